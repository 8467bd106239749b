"""Serving a DialoGPT or GODEL model over HTTP (``serve.py``), one job per module.

- ``cli``: flags, ``ServeConfig``, start-up (``main``);
- ``app``: the FastAPI application, body limit, API key, metrics and error middleware;
- ``routes``: the endpoints (OpenAI chat/completions with SSE, models, HF ``/generate``, health);
- ``schemas``: request bodies, their mapping onto ``DecodingOptions`` and validation;
- ``engine``: jobs decoded in batches with the toolkit's ``Decoder`` (MMI, safe mode);
- ``batcher``: the queue and the generation worker thread (dynamic batching, 429);
- ``streaming``: per-row text as it is generated, and Server-Sent Events;
- ``safety``: ``--safe`` blocklists; ``metrics``: Prometheus text; ``errors``: error shapes;
- ``page``: the Gradio chat page mounted at ``/``.
"""
