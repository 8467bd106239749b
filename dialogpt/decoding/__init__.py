"""Response decoding: chat (``interact.py``), batch decoding (``generate.py``), MMI, GODEL.

- ``context``: pure history -> token ids, windowed by turns and tokens exactly as training built
  its features (each turn followed by EOS; the response is predicted after the last EOS).
- ``options``: ``DecodingOptions``, the decoding settings (each field a flag), and ``--preset``.
- ``decoder_config``: ``DecoderConfig``, the model, decoding and grounding flags that
  ``generate.py``, ``interact.py`` and ``serve.py`` share, parsed with ``--preset``.
- ``grounded_source``: seq2seq (GODEL) sources: the checkpoint's template (``grounding.json``),
  instruction + knowledge + turns fitted by ``grounding.fit_source``.
- ``engine``: the decoding engine (requests in, token events out; continuous batching over a
  slot KV cache, GPT-2 and T5, greedy/sampling, log-probabilities, a thread-safe loop for
  servers).
- ``generation``: ``Decoder``, histories -> responses through the engine (beam search and other
  architectures: batched Hugging Face ``generate``), with optional reranking.
- ``rerank``: the ``Ranker`` interface and the MMI reverse-model scorer.
- ``loading``: builds a ``Decoder`` from a ``DecoderSpec`` (tokenizer, models, device) and
  ``Grounding``.
- ``inputs``: reading TSV / ``test.refs.txt`` contexts, writing one response per line.
- ``generate_cli`` (``generate.py``) / ``interact`` (``interact.py``): the command-line entry
  points.
"""
