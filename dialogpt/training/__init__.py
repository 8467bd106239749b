"""DialoGPT (GPT-2) and GODEL (T5/BART) training (``LSP_train.py``): DDP, mixed precision,
exact resume.

Read ``loop`` first (``Trainer.run`` -> ``_train_epoch`` -> ``train_step``). Around it:
``args`` (``TrainConfig``: every flag, its default, help and validation), ``schedules`` and
``loss`` (pure), ``optim`` (AdamW, the original BERT-Adam), ``components`` (validated set-up),
``resume`` (what a checkpoint's training state holds, and restoring it), ``checkpoint`` (atomic,
resumable HF directories), ``distributed`` (process group), ``prefetch`` (batches with their
loader positions), ``logs`` (train/eval logs), ``train`` (``main``).
"""
