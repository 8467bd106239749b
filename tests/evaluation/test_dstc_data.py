"""``dstc/`` helpers: the human-response hypothesis and key lists."""

from __future__ import annotations

import pytest

from dialogpt.cli import run_main
from dialogpt.evaluation.dstc_data import extract_human_main, extract_keys_main

REFS = ("k1\t1|first ref\t1|human one\t1|third\n"
        "k2\t1|other\t1|human two\n"
        "k3\t1|alone\n")


@pytest.fixture
def refs(tmp_path):
    path = tmp_path / "refs.txt"
    path.write_text(REFS, encoding="utf-8")
    return path


def test_extract_human_plain_follows_the_keys_order(refs, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("k2\nk1\n")
    out = tmp_path / "human.resp.txt"
    assert extract_human_main(["--refs", str(refs), "--keys", str(keys), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == "human two\nhuman one\n"


def test_extract_human_dstc_format(refs, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("k1\n")
    out = tmp_path / "human.txt"
    extract_human_main(["--refs", str(refs), "--keys", str(keys), "--out", str(out),
                        "--format", "dstc"])
    assert out.read_text(encoding="utf-8") == "k1\t-\t-\t-\t-\t-\thuman one\n"


@pytest.mark.parametrize("keys_text, message", [
    ("k1\nk9\n", "keys.txt:2: key k9 is not in"),
    ("k3\n", "refs.txt:3: key k3 has 1 references, so no reference number 1"),
])
def test_extract_human_errors_name_the_line(refs, tmp_path, capsys, keys_text, message):
    keys = tmp_path / "keys.txt"
    keys.write_text(keys_text)
    code = run_main(extract_human_main, ["--refs", str(refs), "--keys", str(keys),
                                         "--out", str(tmp_path / "h.txt")])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "h.txt").exists()


def test_extract_keys_in_file_order_with_filter(refs, tmp_path):
    wanted = tmp_path / "wanted.txt"
    wanted.write_text("k3\nk1\n")
    out = tmp_path / "keys.txt"
    extract_keys_main(["--input", str(refs), "--keys", str(wanted), "--out", str(out)])
    assert out.read_text() == "k1\nk3\n"


@pytest.mark.parametrize("script", ["dstc/extract_human.py", "dstc/extract_keys.py"])
def test_shims_run(repo_root, script):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, script, "--help"], cwd=repo_root,
                            capture_output=True, text=True)
    assert result.returncode == 0 and "--out" in result.stdout
