"""Entry point of ``LSP_train.py``: parse flags, join the process group, train, report.

``main(argv)`` works in-process (tests, the demo) as well as under ``torchrun`` or
``python -m torch.distributed.launch``. Heavy libraries are imported after the flags are parsed,
so ``--help`` and flag errors are instant.
"""

from __future__ import annotations

import logging
from typing import Sequence

from dialogpt.cli import setup_logging
from dialogpt.training.args import parse_args

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    setup_logging()
    from dialogpt.training.distributed import init_distributed
    from dialogpt.training.loop import Trainer

    ctx = init_distributed(config.local_rank, config.device)
    if not ctx.is_main:
        logging.getLogger("dialogpt").setLevel(logging.WARNING)
    try:
        final = Trainer(config, ctx).run()
    finally:
        ctx.shutdown()
    if ctx.is_main:
        if final is not None:
            logger.info("final eval: loss %.4f, ppl %.3f (original's), exp(loss) %.3f",
                        final.loss, final.ppl, final.exp_loss)
        logger.info("done: checkpoints and logs in %s", config.output_dir)
    return 0
