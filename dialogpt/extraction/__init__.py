"""Reddit extraction: monthly dumps -> multi-turn TSV (``reddit_extractor/Makefile`` drives it).

Stages, each ``python -m dialogpt.extraction.<stage> --help``: ``extract`` (dumps -> kept
submissions and comments), ``conv`` (-> instances with ids), ``merge`` (-> train/valid/test TSV),
``multiref`` (-> 6k multi-reference test set), ``summary`` (month reports -> run summary),
``fetch`` (optional downloads). ``synthetic`` is a test and benchmark fixture (deterministic
dummy dumps and key files), not a stage.
"""
