"""DialoGPT (GPT-2) and GODEL (T5/BART) training (``LSP_train.py``): DDP, mixed precision,
exact resume.

Read ``loop`` first (``Trainer.run`` -> ``_train_epoch`` -> ``train_step``; ``Trainer.setup``
builds the run). Around it: ``args`` (``TrainConfig``: every flag, its default, help and
validation); what ``setup`` builds from: ``data`` (token DB, tokenizer, loaders, batch plan),
``compat`` (the DB, model and resumed checkpoint fit each other), ``model_setup`` (the model's
source, config and building, with ``lora`` adapters), ``precision`` (the precision policy,
autocast and loss scaler), ``optim`` (AdamW, the original BERT-Adam), ``schedules`` (pure),
``plan_report`` (the plan told at start-up, and in time once the speed is measured); what the
loop uses: ``step_batches`` (each step's micro-batches with the loader position to resume from),
``loss`` (pure), ``distributed`` (process group, DDP), ``resume`` (what a checkpoint's training
state holds, and restoring it), ``checkpoint`` (atomic, resumable HF directories), ``logs`` and
``tensorboard`` (train/eval logs); ``train`` (``main``).
"""
