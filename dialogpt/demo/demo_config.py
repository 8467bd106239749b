"""``DemoConfig``: everything ``demo.py`` is told, one field per flag.

``demo.py``'s parser (and ``--help``) is generated from these fields by
:func:`dialogpt.config.build_parser`; :meth:`DemoConfig.validate` holds every check that needs no
files (a dumps folder, a model source and the Hub are checked by each task before its stages
start). Flags ``demo.py`` does not know are kept in ``train_flags``: they go to every training run
of the demo, as overrides of its ``TrainConfig`` (``dialogpt.demo.training.train_config``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from dialogpt.cli import UserError
from dialogpt.config import flag

_GROUNDED = "--task grounded (GODEL)"
_FINETUNE = "--task finetune (few-shot GODEL)"
TASKS = ("dialog", "grounded", "finetune")


def default_jobs() -> int:
    """``make -j`` of the extractor: the CPU count, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


@dataclass
class DemoConfig:
    """A ``demo.py`` run (its task, data, model, sizes), plus the flags it passes to training."""

    task: str = flag("dialog", "dialog: DialoGPT on Reddit-format data; grounded: GODEL (a T5 "
                     "answering from knowledge) on grounded dummy records; finetune: the "
                     "grounded model fine-tuned on 10/50/200 synthetic WoW dialogs (full and "
                     "LoRA) against zero-shot", choices=TASKS)
    data: str = flag("dummy", "dummy: generated Reddit-format dumps, offline; small/full: the "
                     "original's month ranges through reddit_extractor (bring dumps with "
                     "--dumps)", choices=("dummy", "small", "full"))
    dumps: str | None = flag(None, "directory with RS_/RC_ monthly dumps for --data small|full "
                             "(pushshift no longer serves them)")
    model: str = flag("tiny", "tiny: train configs/tiny (--task grounded: configs/t5-tiny) from "
                      "scratch; small|medium|large: fine-tune microsoft/DialoGPT-* from the Hub; "
                      "godel-base|godel-large (--task grounded): fine-tune "
                      "microsoft/GODEL-v1_1-*-seq2seq; or a local HF directory")
    output_dir: str | None = flag(None, "where the model, logs and REPORT.md go (default: "
                                  "models/demo, --task grounded: models/demo-grounded, --task "
                                  "finetune: models/demo-finetune)")
    data_dir: str | None = flag(None, "where dumps and TSVs go (default: data/dummy for --data "
                                "dummy, else data; --task grounded: data/grounded, --task "
                                "finetune: data/finetune)")
    max_seq_len: int = flag(128, "prepro --max_seq_len", kind=int)
    num_optim_steps: int | None = flag(None, "training steps (default: 300; --task grounded: "
                                       "500)", kind=int)
    train_batch_size: int = flag(32, "examples per optimizer step", kind=int)
    valid_step: int = flag(100, "evaluate every N steps", kind=int)
    valid_fraction: float = flag(0.1, "share of threads (by submission id hash) held out as "
                                 "valid.tsv", kind=float)
    num_heldout: int = flag(100, "held-out contexts decoded and scored", kind=int)
    jobs: int = flag(help="make -j for the extractor", kind=int, default_factory=default_jobs)
    force: bool = flag(False, "redo every stage, even finished ones", kind=bool)
    mmi: bool = flag(False, "also train a backward model on prepro.py --reverse data and rerank "
                     "sampled candidates with it (MMI); the report has both rows", kind=bool)

    max_source_len: int = flag(128, "prepro --max_source_len: encoder tokens (instruction, "
                               "turns, knowledge)", _GROUNDED, kind=int)
    max_target_len: int = flag(16, "prepro --max_target_len: response tokens, EOS included",
                               _GROUNDED, kind=int)
    num_train: int = flag(2000, "grounded training records", _GROUNDED, kind=int)
    num_test: int = flag(200, "grounded test records decoded with and without their knowledge",
                         _GROUNDED, kind=int)
    distractors: int = flag(1, "knowledge sentences besides the fact asked about (same person "
                            "or same attribute): more makes the right span harder to find",
                            _GROUNDED, kind=int)
    history_turns: int = flag(0, "most earlier exchanges about the same person in a context "
                              "before its question (drawn from 0 to N per record)", _GROUNDED,
                              kind=int)

    pretrained_dir: str = flag("models/demo-finetune-base", "output folder of the grounded demo "
                               "whose tiny T5 is fine-tuned (built there when absent with "
                               "--distractors 0 --history_turns 2: a model that copies the "
                               "answer from its knowledge in multi-turn contexts; --model tiny "
                               "only)", _FINETUNE)
    num_train_dialogs: int = flag(300, "synthetic WoW training dialogs the --shots are sampled "
                                  "from", _FINETUNE, kind=int)
    shots: list[int] = flag(help="training dialogs sampled per run (convert_task.py --shots)",
                            group=_FINETUNE, kind=int, nargs="+",
                            default_factory=lambda: [10, 50, 200])
    finetune_epochs: float = flag(8, "passes over the K dialogs' examples per run (steps = "
                                  "epochs x examples / batch size, at least "
                                  "--finetune_min_steps)", _FINETUNE, kind=float)
    finetune_min_steps: int = flag(100, "fewest optimizer steps of a run (the small K's)",
                                   _FINETUNE, kind=int)
    finetune_batch_size: int = flag(16, "examples per fine-tuning step", _FINETUNE, kind=int)
    finetune_lr: float = flag(2e-3, "peak learning rate of full fine-tuning (linear warm-up and "
                              "decay)", _FINETUNE, kind=float)
    lora_lr: float = flag(5e-3, "peak learning rate of the LoRA runs (adapters on every linear "
                          "layer; --lora_target_modules q v narrows them)", _FINETUNE, kind=float)
    finetune_lora_r: int = flag(8, "LoRA rank of the LoRA runs", _FINETUNE, kind=int)
    finetune_seed: int = flag(42, "seed of the synthetic data, the dialog sampling and every "
                              "training run", _FINETUNE, kind=int)
    finetune_threads: int = flag(1, "torch threads of every stage (0: torch's default, one per "
                                 "core): on 2 cores the tiny T5 gained nothing from a second "
                                 "thread, and while another process kept a core busy two "
                                 "threads made each step about 4x slower", _FINETUNE, kind=int)

    train_flags: list[str] = field(default_factory=list)
    """The flags ``demo.py`` does not know, for every training run (not a flag itself)."""

    def __post_init__(self) -> None:
        if self.num_optim_steps is None:  # the default depends on the task
            self.num_optim_steps = 500 if self.task == "grounded" else 300

    def validate(self) -> None:
        """Every check that needs no files: ``UserError`` naming the flag."""
        if self.task not in TASKS:
            raise UserError(f"unknown --task {self.task!r}; choose one of {', '.join(TASKS)}")
        self._require_positive("max_seq_len", "num_optim_steps", "train_batch_size",
                               "valid_step", "num_heldout", "jobs", "max_source_len",
                               "max_target_len", "num_train", "num_test")
        if not 0.0 < self.valid_fraction < 1.0:
            raise UserError(f"--valid_fraction must be in (0, 1), got {self.valid_fraction}")
        for name in ("distractors", "history_turns"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if self.task == "finetune":
            self._validate_finetune()

    def _validate_finetune(self) -> None:
        if not self.shots or min(self.shots) < 1:
            raise UserError("--shots needs one or more dialog counts >= 1")
        if max(self.shots) > self.num_train_dialogs:
            raise UserError(f"--shots {max(self.shots)} exceeds the {self.num_train_dialogs} "
                            "synthetic training dialogs")
        if not self.finetune_epochs > 0:
            raise UserError(f"--finetune_epochs must be > 0, got {self.finetune_epochs}")
        self._require_positive("finetune_min_steps", "finetune_batch_size", "finetune_lora_r")
        if self.finetune_threads < 0:
            raise UserError(f"--finetune_threads must be >= 0, got {self.finetune_threads}")

    def _require_positive(self, *names: str) -> None:
        for name in names:
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be at least 1, got {getattr(self, name)}")

