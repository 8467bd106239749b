"""Serving a DialoGPT or GODEL model over HTTP (``serve.py``), one job per module.

- ``cli``: flags (``ServeConfig``; ``ServeCommand`` adds the decoding ones), start-up
  (``main``);
- ``app``: the FastAPI application, body limit, API key, metrics and error middleware;
- ``routes``: the OpenAI endpoints (chat/completions with SSE, logprobs, echo, models), health;
- ``tgi``: Hugging Face text-generation-inference's routes (``/generate``, ``/generate_stream``,
  ``POST /``, ``/info``) and GODEL's example-server body;
- ``schemas``: request bodies, their mapping onto ``DecodingOptions`` and validation;
- ``refusals``: fields set to what the server does not implement are a 400 naming them;
- ``engine``: requests mapped onto the decoding engine (``dialogpt.decoding.engine``: continuous
  batching) and its token events back (MMI, safe mode; beam search on ``generate``);
- ``batcher``: admission in front of the engine (429) and cancellation;
- ``logprobs``: log-probabilities in OpenAI's chat and legacy shapes and TGI's;
- ``streaming``: streamed text of the stripped reply, and Server-Sent Events;
- ``safety``: ``--safe`` blocklists; ``metrics``: Prometheus text; ``errors``: error shapes;
- ``page``: the Gradio chat page mounted at ``/``.
"""
