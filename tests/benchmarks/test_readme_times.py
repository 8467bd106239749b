"""``benchmarks/bench_readme_times.py`` and README.md cannot drift apart (fast; nothing is timed).

Every command the script times is printed in README.md, every id it knows is named there (in the
``<!-- readme_times: ... -->`` comments that tag the README's figures), every id the README names
is known, and the committed record ``benchmarks/readme_times.json`` has a figure for each id.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the benchmarks/ folder's parent
from benchmarks.bench_readme_times import OUTLOOK, human  # noqa: E402
from benchmarks.readme_commands import BY_ID, COMMANDS, normalize  # noqa: E402

TAG = re.compile(r"<!-- readme_times: ([^>]*?) -->")


@pytest.fixture(scope="module")
def readme(repo_root) -> str:
    return (repo_root / "README.md").read_text(encoding="utf-8")


def test_help_lists_every_id(repo_root):
    result = subprocess.run([sys.executable, "benchmarks/run.py", "readme_times", "--help"],
                            cwd=repo_root, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "--only" in result.stdout and "--work" in result.stdout
    for command in COMMANDS:
        assert command.id in result.stdout


def test_every_command_is_printed_in_the_readme(readme):
    text = normalize(readme)
    missing = [c.id for c in COMMANDS if normalize(c.readme) not in text]
    assert not missing, f"README.md no longer prints the commands of {missing}"


def test_ids_and_readme_tags_agree(readme):
    tagged = [name for group in TAG.findall(readme) for name in group.split()]
    assert sorted(set(tagged)) == sorted(BY_ID), (
        f"known but not tagged in README.md: {sorted(set(BY_ID) - set(tagged))}; "
        f"tagged but unknown: {sorted(set(tagged) - set(BY_ID))}")


def test_the_record_has_every_id(repo_root):
    record = json.loads((repo_root / "benchmarks" / "readme_times.json").read_text())
    assert set(record["seconds"]) == set(BY_ID)
    assert set(record["readme"]) == set(BY_ID)
    assert len(record["load_before"]) == 3 and len(record["load_after"]) == 3


def test_ids_are_unique_and_kinds_known():
    assert len(BY_ID) == len(COMMANDS)
    kinds = {"run", "chat", "train_probe", "serve", "client", "not_measured"}
    assert {c.kind for c in COMMANDS} <= kinds
    for command in COMMANDS:
        if command.kind == "client":
            assert BY_ID[command.server].kind == "serve"


def test_probe_reads_the_trainers_outlook_line():
    from dialogpt.training.plan_report import outlook_lines

    line = outlook_lines(total_steps=1_000_000, done_steps=20, seconds_per_step=2.0,
                         schedule="noam", warmup_steps=16000, warmup_proportion=0.1,
                         base_lr=1e-5, n_embd=768, save_step=10000, valid_step=10000,
                         skip_eval=False)[0]
    match = OUTLOOK.search(line)
    assert match and match.group(1) == "1,000,000" and float(match.group(4)) == 2.0
    assert match.group(3) == "23.1 days"  # 999,980 steps x 2 s = 1,999,960 s / 86,400


def test_normalize_joins_continuations():
    assert normalize("python x.py --a 1 \\\n    --b 2") == "python x.py --a 1 --b 2"


@pytest.mark.parametrize("seconds, words", [(0.21, "0.2 s"), (8.71, "8.7 s"), (41.4, "41 s"),
                                            (276, "4.6 min"), (33_000, "9.2 h"),
                                            (16_500_000, "191 days")])
def test_human(seconds, words):
    assert human(seconds) == words
