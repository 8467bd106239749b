"""GPT-2 training (``LSP_train.py``): DDP, mixed precision, exact resume.

Modules: ``args`` (flags), ``schedules`` and ``loss`` (pure), ``optim`` (AdamW, the original
BERT-Adam), ``checkpoint`` (atomic, resumable HF directories), ``distributed`` (process group),
``components`` (validated set-up), ``logs`` (train/eval logs), ``loop`` (the training loop),
``train`` (``main``).
"""
