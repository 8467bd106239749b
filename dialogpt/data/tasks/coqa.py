"""CoQA (coqa-baselines' seq2seq h2 files) -> GODEL records, as GODEL's converter writes them.

Input: a folder with ``seq2seq-train-h2-src.txt`` / ``-tgt.txt`` and ``seq2seq-dev-h2-src.txt`` /
``-tgt.txt`` (``scripts/gen_seq2seq_data.py --n_history 2``). A source line is
``story || <Q2> q <A2> a <Q1> q <A1> a <Q> question``; the target line is the answer. Rules (spec
grounded.md §8): non-empty lines of the two files are paired in order; a source line (stripped)
splits on ``||`` into Knowledge = the part before (the story, its trailing space kept) and
Context = the part after (its leading space kept); Response = the stripped target. ``dev`` is
written as ``valid``; there is no test split.

A source line without exactly one ``||`` (GODEL's script dies on it) is skipped with its target
(``bad_source_line``); lines left over when one file is longer are counted as ``no_target`` /
``no_source``. Consecutive lines with the same story are one dialog (few-shot sampling draws
whole stories).
"""

from __future__ import annotations

from pathlib import Path

from dialogpt.data.tasks.common import Dialog, Progress, SplitSpec, Tally, add_example

EXPECTED = ("coqa-baselines seq2seq text: source lines 'story || question with history' and "
            "one answer per target line")
SPLITS = (SplitSpec("train", ("seq2seq-train-h2-src.txt", "seq2seq-train-h2-tgt.txt")),
          SplitSpec("valid", ("seq2seq-dev-h2-src.txt", "seq2seq-dev-h2-tgt.txt")))
HAS_TOPICS = False


def _non_empty_lines(path: Path) -> list[str]:
    from dialogpt.cli import UserError

    try:
        with open(path, encoding="utf-8") as handle:
            return [line.strip() for line in handle if line.strip() != ""]
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text ({exc.reason}); expected {EXPECTED}") from None


def read_split(spec: SplitSpec, paths: list[Path], tally: Tally) -> list[Dialog]:
    from dialogpt.cli import UserError

    sources, targets = _non_empty_lines(paths[0]), _non_empty_lines(paths[1])
    if sources and not any("||" in line for line in sources[:100]):
        raise UserError(f"{paths[0]}: no '||' in its first lines; expected {EXPECTED}")
    if len(sources) != len(targets):
        tally.skip("no_target" if len(sources) > len(targets) else "no_source",
                   abs(len(sources) - len(targets)))
    dialogs: list[Dialog] = []
    last_story = None
    progress = Progress(f"coqa {paths[0].name}", unit="lines")
    for source, target in zip(sources, targets):
        progress.tick()
        parts = source.split("||")
        if len(parts) != 2:
            tally.skip("bad_source_line")
            continue
        story, question = parts
        if story != last_story:
            dialogs.append(Dialog(str(len(dialogs))))
            last_story = story
        add_example(dialogs[-1], {"Context": question, "Knowledge": story, "Response": target},
                    tally)
    return dialogs
