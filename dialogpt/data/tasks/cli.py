"""``convert_task.py``: a downstream dataset or one's own chat data -> GODEL JSON lines.

    python convert_task.py wow --input data/wizard_of_wikipedia --output data/wow
    python convert_task.py wow --input WOW_DIR --output data/wow-10 --train shots --shots 10
    python convert_task.py chat --input chats.jsonl --output data/chat --to tsv

Writes DIR/train.jsonl, valid.jsonl, test.jsonl (CoQA: train and valid; WoW also valid_unseen and
test_unseen) as GODEL records {Context (turns joined by ' EOS '), Knowledge, Response[,
Instruction]}, and DIR/convert.json: the source files with their sha256, counts, skipped records
by reason, the sampled ids and the seed. DIR appears whole or not at all.

Tasks and their --input: wow (ParlAI WoW JSON folder), woi (ParlAI WoI JSONL folder), coqa
(coqa-baselines seq2seq-{train,dev}-h2-{src,tgt}.txt folder), multiwoz (HDSA-Dialog
train/val/test.json folder), dstc9 (DSTC9 track 1 data folder), chat (a file or a folder of
train/valid/test files: OpenAI chat JSONL, ShareGPT, or JSON/JSONL/CSV/Parquet columns).
Records equal those of GODEL's scripts/downstream_tasks_converter.py and examples/dstc9/
converter.py from the same files, except: MultiWOZ DB counts 1 and 2 are written as one/two
(GODEL's comparison bug made them 'more than two'); train sampling is seeded (--train fraction
--fraction 0.006 --seed S for GODEL's unseeded 0.6%); DSTC9's valid holds no train examples;
records with an empty Context (a WoW wizard's opening turn in train) are skipped and counted.
"""

from __future__ import annotations

import json
import logging
import sys

from dialogpt.cli import UserError, check_paths, run_main, setup_logging
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import parse_config
from dialogpt.data.tasks import task_module
from dialogpt.data.tasks.convert_config import ConvertConfig
from dialogpt.data.tasks.sampling import GODEL_FRACTION

logger = logging.getLogger(__name__)


def build_parser():
    return build_config_parser(ConvertConfig, "convert_task.py", __doc__)


def plan_splits(config: ConvertConfig, module) -> list[tuple]:
    """``[(SplitSpec, [source paths])]`` of the splits to convert; missing optional ones left out."""
    if config.task == "chat":
        return module.plan(config.input)
    planned = []
    for spec in module.SPLITS:
        paths = [config.input / name for name in spec.files]
        missing = [str(path) for path in paths if not path.is_file()]
        if not missing:
            planned.append((spec, paths))
        elif spec.name == "train":
            names = dict.fromkeys(name for spec_ in module.SPLITS for name in spec_.files)
            raise UserError(f"--input {config.input}: no {', '.join(missing)}; the "
                            f"{config.task} task reads {', '.join(names)} there "
                            f"({module.EXPECTED})")
        elif spec.required:
            logger.warning("%s: no %s, so no %s split is written", config.input,
                           ", ".join(missing), spec.name)
    return planned


def read_all(config: ConvertConfig, module, planned) -> dict[str, tuple]:
    """``{split: (dialogs, Tally)}`` of every planned split, in order."""
    from dialogpt.data.tasks.common import Tally

    result = {}
    for spec, paths in planned:
        tally = Tally()
        if config.task == "chat":
            form = module.detect_format(paths[0], config.chat_format)
            tally.info["chat_format"] = form
            dialogs = module.read_split(paths[0], form, config.fields, tally)
        else:
            dialogs = module.read_split(spec, paths, tally)
        tally.counts["dialogs"] = len(dialogs)
        tally.counts["examples"] = sum(len(dialog.examples) for dialog in dialogs)
        result[spec.name] = (dialogs, tally)
    return result


def sample_train(config: ConvertConfig, dialogs):
    """The kept train dialogs (:class:`~dialogpt.data.tasks.sampling.Sample`) and the draw that
    chose them: ``{"fraction", "seed"}`` (None where not drawn)."""
    from dialogpt.data.tasks import sampling

    if config.train == "all":
        return sampling.keep_all(dialogs), {"fraction": None, "seed": None}
    if config.train == "shots":
        return (sampling.sample_shots(dialogs, config.shots, config.seed),
                {"fraction": None, "seed": config.seed})
    if config.train == "godel" and config.task == "wow":
        from dialogpt.data.tasks.wow import godel_sample

        return sampling.keep_dialogs(godel_sample(dialogs)), {"fraction": None, "seed": None}
    fraction, seed = config.fraction, config.seed
    if config.train == "godel" and config.task == "dstc9":
        from dialogpt.data.tasks.dstc9 import GODEL_FRACTION as fraction, GODEL_SEED as seed
    elif config.train == "godel":
        fraction = GODEL_FRACTION
    return sampling.sample_fraction(dialogs, fraction, seed), {"fraction": fraction, "seed": seed}


def source_entries(planned) -> list[dict]:
    from dialogpt.fileio import sha256_file

    entries, seen = [], set()
    for spec, paths in planned:
        for path in paths:
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            entries.append({"split": spec.name, "path": str(path.resolve()),
                            "bytes": path.stat().st_size, "sha256": sha256_file(path)})
    return entries


def convert(config: ConvertConfig) -> dict:
    """Run one conversion (see module doc); returns what convert.json records."""
    from dialogpt.data.tasks.output import write_split
    from dialogpt.fileio import atomic_dir

    module = task_module(config.task)
    planned = plan_splits(config, module)
    splits = read_all(config, module, planned)
    train_dialogs, train_tally = splits["train"]
    sample, draw = sample_train(config, train_dialogs)
    splits["train"] = (sample.dialogs, train_tally)
    summary = {"format": 1, "task": config.task, "input": str(config.input.resolve()),
               "sources": source_entries(planned),
               "train": {"mode": config.train, **draw, "shots": config.shots,
                         "unit": sample.unit, "sampled_ids": sample.ids},
               "instruction": config.instruction, "to": config.to, "splits": {}}
    with atomic_dir(config.output, overwrite=config.force) as tmp:
        for name, (dialogs, tally) in splits.items():
            file_name, written, notes = write_split(tmp, name, dialogs, config.to,
                                                    config.instruction, tally)
            summary["splits"][name] = {"file": file_name, **tally.info,
                                       **dict(sorted(tally.counts.items())), "written": written,
                                       "skipped": dict(sorted(tally.skipped.items())),
                                       "notes": {k: v for k, v in sorted(notes.items()) if v}}
        with open(tmp / "convert.json", "w", encoding="utf-8") as out:
            out.write(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    return summary


def format_summary(summary: dict) -> str:
    lines = [f"convert_task {summary['task']}: train {summary['train']['mode']}"
             + (f" (seed {summary['train']['seed']})" if summary["train"]["seed"] is not None
                else "")]
    for name, split in summary["splits"].items():
        skipped = ", ".join(f"{reason} {count}" for reason, count in split["skipped"].items())
        notes = ", ".join(f"{note} {count}" for note, count in split["notes"].items())
        lines.append(f"  {split['file']:<20} {split['written']:>8} written (read: "
                     f"{split['examples']} examples of {split['dialogs']} dialogs)"
                     + (f"; skipped: {skipped}" if skipped else "")
                     + (f"; {notes}" if notes else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    config = parse_config(ConvertConfig, build_parser(), argv)
    setup_logging()
    inputs = {"--input": config.input}
    check_paths(**({"input_files": inputs} if config.task == "chat" and config.input.is_file()
                   else {"input_dirs": inputs}), output_dirs={"--output": config.output})
    if config.output.exists() and not config.force:
        raise UserError(f"--output {config.output} exists; pass --force to replace it, or "
                        "choose another folder")
    summary = convert(config)
    print(format_summary(summary) + f"\n  -> {config.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
