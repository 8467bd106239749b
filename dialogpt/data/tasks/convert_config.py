"""``ConvertConfig``: everything ``convert_task.py`` is told, one field per flag.

``convert_task.py``'s parser (and ``--help``) is generated from these fields by
:func:`dialogpt.config.build_parser`; :meth:`ConvertConfig.validate` holds every check that needs
no files. A program builds the config itself (checked as it is built) and calls
:func:`dialogpt.data.tasks.cli.convert`::

    convert(ConvertConfig(task="wow", input=Path("wow"), output=Path("out"), train="shots",
                          shots=10))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dialogpt.cli import UserError, seed_type
from dialogpt.config import flag
from dialogpt.data.tasks import TASKS
from dialogpt.data.tasks.chat import CHAT_FORMATS
from dialogpt.data.tasks.output import OUTPUT_FORMATS
from dialogpt.data.tasks.sampling import GODEL_FRACTION, TRAIN_MODES

_CHAT = "chat task"
CHAT_ONLY = ("chat_format", "context_field", "knowledge_field", "response_field",
             "instruction_field")


@dataclass(frozen=True, kw_only=True)
class ConvertConfig:
    """Everything one conversion needs (each field is the flag of the same name)."""

    task: str = flag(help="the dataset (see above)", choices=TASKS, positional=True)
    input: Path = flag(help="the dataset's folder (chat: a file or a folder of train/valid/test "
                       "files)", kind=Path)
    output: Path = flag(help="folder to write (made whole at the end)", kind=Path)
    train: str = flag(
        "all", "train examples to keep: all; godel = what GODEL's converter keeps (WoW: its fixed "
        "50 topics; DSTC9: its 2.5%% seeded 2022; others: "
        f"--fraction {GODEL_FRACTION} with --seed); fraction = each example with probability "
        "--fraction; shots = --shots whole dialogs (spread over topics where the data has them)",
        choices=TRAIN_MODES)
    fraction: float | None = flag(None, "with --train fraction: the share of train examples kept "
                                  "(no default)", kind=float)
    shots: int | None = flag(None, "with --train shots: how many train dialogs (no default)",
                             kind=int)
    seed: int = flag(0, "seed of --train fraction/shots/godel draws (recorded in convert.json)",
                     kind=seed_type())
    instruction: str = flag("", "Instruction written into records that have none (default: "
                            "none)")
    to: str = flag("jsonl", "jsonl = GODEL records; tsv = DialoGPT's TSV for the causal model "
                   "('0.0 turn EOS 0.0 turn<TAB>1.0 response'; knowledge not kept)",
                   choices=OUTPUT_FORMATS)
    force: bool = flag(False, "replace --output if it exists", kind=bool)
    chat_format: str = flag("auto", "auto: OpenAI if records have 'messages', ShareGPT if "
                            "'conversations', else named columns (always for CSV/Parquet)", _CHAT,
                            choices=CHAT_FORMATS)
    context_field: str = flag("Context", "column of the context (a string of turns joined by "
                              "' EOS ' or a list)", _CHAT)
    knowledge_field: str = flag("Knowledge", "column of the knowledge (optional)", _CHAT)
    response_field: str = flag("Response", "column of the response", _CHAT)
    instruction_field: str = flag("Instruction", "column of a per-row instruction (optional)",
                                  _CHAT)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Every check that needs no files: one ``UserError`` naming the flags."""
        problems = []
        if (self.train == "fraction") != (self.fraction is not None):
            problems.append("--fraction goes with --train fraction (and it needs one)")
        elif self.fraction is not None and not 0 < self.fraction <= 1:
            problems.append(f"--fraction must be in (0, 1], got {self.fraction} (GODEL: 0.006)")
        if (self.train == "shots") != (self.shots is not None):
            problems.append("--shots goes with --train shots (and it needs one)")
        elif self.shots is not None and self.shots < 1:
            problems.append(f"--shots must be >= 1, got {self.shots}")
        if self.task == "chat" and self.train == "godel":
            problems.append("--train godel is a GODEL dataset's own sampling; chat data has none "
                            "(use all, fraction or shots)")
        defaults = ConvertConfig.__dataclass_fields__
        changed = [f"--{name}" for name in CHAT_ONLY if getattr(self, name) !=
                   defaults[name].default]
        if self.task != "chat" and changed:
            problems.append(f"{', '.join(changed)} only apply to the chat task")
        if problems:
            raise UserError("; ".join(problems))

    @property
    def fields(self) -> dict[str, str]:
        return {"context": self.context_field, "knowledge": self.knowledge_field,
                "response": self.response_field, "instruction": self.instruction_field}
