"""Entry point of ``LSP_train.py``: parse flags, join the process group, train, report.

``main(argv)`` works in-process (tests; the demo calls ``train(config)`` with a ``TrainConfig``)
as well as under ``torchrun`` or ``python -m torch.distributed.launch``. Heavy libraries are
imported after the flags are parsed, so ``--help`` and flag errors are instant.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Sequence

from dialogpt.cli import UserError, check_paths, setup_logging
from dialogpt.locking import hold_read_lock, hold_run_lock
from dialogpt.training.args import TrainConfig, parse_args

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    setup_logging()
    return train(config)


def train(config: TrainConfig) -> int:
    """Train as ``LSP_train.py`` does with the validated ``config`` (in-process: the demo calls
    this). Returns the exit code: 0, or 130/143 when Ctrl-C or SIGTERM stopped the run after it
    saved a checkpoint that ``--resume auto`` continues."""
    check_paths(output_dirs={"--output_dir": config.output_dir, "--log_dir": config.log_dir},
                input_files={"--eval_input_file": None if config.skip_eval
                             else config.eval_input_file})
    from dialogpt.interrupts import GracefulStop
    from dialogpt.training.distributed import init_distributed
    from dialogpt.training.loop import Trainer

    ctx = init_distributed(config.local_rank, config.device)
    if not ctx.is_main:
        logging.getLogger("dialogpt").setLevel(logging.WARNING)
    elif config.ignored_flags():
        logger.warning("ignored flags: %s", "; ".join(config.ignored_flags()))
    with contextlib.ExitStack() as stack:
        failure = None
        if ctx.is_main:  # one run per --output_dir: a second one fails at once
            try:
                stack.enter_context(hold_run_lock(config.output_dir, flag="--output_dir"))
                stack.enter_context(hold_read_lock(config.train_input_file,
                                                   flag="--train_input_file"))
            except UserError as exc:
                failure = exc
        try:
            ctx.raise_if_failed_anywhere(failure)
            stop = stack.enter_context(GracefulStop())
            final = Trainer(config, ctx, stop).run()
        finally:
            ctx.shutdown()
    if stop.requested:
        return stop.exit_code  # the trainer saved a checkpoint and said how to continue
    if ctx.is_main:
        if final is not None:
            logger.info("final eval: loss %.4f, ppl %.3f (original's), exp(loss) %.3f",
                        final.loss, final.ppl, final.exp_loss)
        logger.info("done: checkpoints and logs in %s", config.output_dir)
    return 0
