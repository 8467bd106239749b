"""Response decoding: multi-turn chat (``interact.py``), batch decoding (``generate.py``), MMI.

- ``context``: pure history -> token ids, windowed by turns and tokens exactly as training built
  its features (each turn followed by EOS; the response is predicted after the last EOS).
- ``options``: the decoding flags shared by every entry point (and a future HTTP server).
- ``generation``: ``Decoder``, batched Hugging Face ``generate`` with left padding.
- ``rerank``: the ``Ranker`` interface and the MMI reverse-model scorer.
- ``loading``: builds a ``Decoder`` from parsed flags (tokenizer, models, device).
- ``inputs``: reading TSV / ``test.refs.txt`` contexts, writing one response per line.
- ``generate_cli`` (``generate.py``) / ``interact`` (``interact.py``): the command-line entry
  points.
"""
