"""Issue 26 (hardening), the command-line classes: every writer checks its output place up front,
every ``--seed`` is checked at parse time.

| class | before | after |
|---|---|---|
| Bad 1: an output in a read-only place (prepro, training, generate, make_refs, extraction, demo) | `OSError: [Errno 30]` traceback from the run lock | one line naming the flag, the path and why, before any work |
| Bad 5: `--seed -1` / `--seed 2**70` (LSP_train.py, generate.py, every decoding CLI) | tracebacks from torch | a usage error at parse time (0 to 2**64 - 1; -1 = unseeded where decoding allows it) |

The read-only place is a real read-only bind mount in a private mount namespace (``unshare``),
so the probe meets the kernel's EROFS, not a stand-in; the test skips where namespaces are not
allowed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dialogpt.cli import run_main

REPO = Path(__file__).resolve().parents[2]

WRITERS = """
import contextlib, io, json, sys
from dialogpt.cli import run_main
ro, rw = sys.argv[1], sys.argv[2]
cases = {
    "prepro default output": ("dialogpt.data.prepro", ["--corpus", f"{ro}/train.tsv"]),
    "prepro --output": ("dialogpt.data.prepro", ["--corpus", f"{rw}/train.tsv",
                                                 "--output", f"{ro}/new/x.db"]),
    "training": ("dialogpt.training.train", ["--model_name_or_path", "configs/tiny",
                 "--train_input_file", f"{rw}/x.db", "--output_dir", f"{ro}/run", "--skip_eval"]),
    "generate": ("dialogpt.decoding.generate_cli", ["--model", "configs/tiny", "--input",
                 f"{rw}/train.tsv", "--output", f"{ro}/out.txt"]),
    "make_refs": ("dialogpt.evaluation.make_refs", ["--tsv", f"{rw}/train.tsv",
                  "--out", f"{ro}/refs.txt"]),
    "extraction": ("dialogpt.extraction.extract", ["2011-01", "--dumps", rw, "--out",
                   f"{ro}/work", "--ignore_keys"]),
    "extraction conv": ("dialogpt.extraction.conv", ["2011-01", "--extract_dir", rw, "--out",
                        f"{ro}/conv", "--ignore_keys"]),
    "demo": ("dialogpt.demo.pipeline", ["--output_dir", f"{ro}/demo", "--data_dir", f"{rw}/d"]),
}
results = {}
for name, (module, argv) in cases.items():
    main = __import__(module, fromlist=["main"]).main
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = run_main(main, argv)
    results[name] = [code, err.getvalue()]
print(json.dumps(results))
"""


def read_only_namespace_works(folder: Path) -> bool:
    probe = subprocess.run(["unshare", "-m", "sh", "-c",
                            f"mount --bind {folder} {folder} && "
                            f"mount -o remount,bind,ro {folder} && ! touch {folder}/x"],
                           capture_output=True)
    return probe.returncode == 0


def test_bad1_every_writer_checks_its_output_place_up_front(tmp_path):
    ro, rw = tmp_path / "ro", tmp_path / "rw"
    ro.mkdir()
    rw.mkdir()
    for folder in (ro, rw):
        (folder / "train.tsv").write_text("hello there\thi\n", encoding="utf-8")
    if not read_only_namespace_works(ro):
        pytest.skip("no private mount namespaces here (unshare -m / mount --bind refused)")
    script = (f"mount --bind {ro} {ro} && mount -o remount,bind,ro {ro} && "
              f"exec {sys.executable} -c '{WRITERS}' {ro} {rw}")
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    expected = {
        "prepro default output": f"--output {ro}/train.128len.db: cannot write in {ro}",
        "prepro --output": f"--output {ro}/new/x.db: cannot write in {ro} (it would be created "
                           f"in {ro})",
        "training": f"--output_dir {ro}/run: cannot write in {ro}",
        "generate": f"--output {ro}/out.txt: cannot write in {ro}",
        "make_refs": f"--out {ro}/refs.txt: cannot write in {ro}",
        "extraction": f"--out {ro}/work: cannot write in {ro}",
        "extraction conv": f"--out {ro}/conv: cannot write in {ro}",
        "demo": f"--output_dir {ro}/demo: cannot write in {ro}",
    }
    for name, start in expected.items():
        code, err = results[name]
        assert code == 2, (name, err)
        assert "Traceback" not in err, (name, err)
        assert f"error: {start}" in err and "Read-only file system" in err, (name, err)
        assert err.strip().splitlines()[-1].startswith("error: "), (name, err)
    assert sorted(p.name for p in ro.iterdir()) == ["train.tsv"]  # nothing was created there
    assert sorted(p.name for p in rw.iterdir()) == ["train.tsv"]  # nor anything half-done here


def test_bad1_a_forbidden_place_is_named_too(tmp_path, capsys):
    """Not only read-only mounts: a folder the probe cannot write for another reason (here
    sysfs, which refuses new files even to root) is named the same way."""
    from dialogpt.evaluation.make_refs import main

    source = tmp_path / "conv.tsv"
    source.write_text("a\tb\n", encoding="utf-8")
    if not Path("/sys/kernel").is_dir():
        pytest.skip("no /sys here")
    code = run_main(main, ["--tsv", str(source), "--out", "/sys/kernel/refs.txt"])
    err = capsys.readouterr().err
    if code == 0:
        pytest.skip("/sys is writable here")
    assert code == 2 and "error: --out /sys/kernel/refs.txt: cannot write in /sys/kernel" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("module", ["dialogpt.training.train", "dialogpt.decoding.generate_cli",
                                    "dialogpt.decoding.interact", "dialogpt.serving.cli"])
@pytest.mark.parametrize("seed", ["-2", str(2 ** 64), str(2 ** 70), "x1"])
def test_bad5_seeds_out_of_range_are_usage_errors_at_parse_time(module, seed, capsys):
    main = __import__(module, fromlist=["main"]).main
    with pytest.raises(SystemExit) as stop:
        main(["--seed", seed, "--model", "configs/tiny", "--model_name_or_path", "configs/tiny"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err
    assert "argument --seed:" in err
    assert ("out of range: a seed is" in err) or ("must be an integer" in err)


def test_bad5_training_seed_minus_one_and_config_file_seeds(tmp_path, capsys):
    from dialogpt.training.train import main

    with pytest.raises(SystemExit):
        main(["--seed", "-1"])
    err = capsys.readouterr().err
    assert "argument --seed: -1 is out of range: a seed is 0 to 2**64 - 1" in err
    config = tmp_path / "flags.json"
    config.write_text(json.dumps({"seed": 2 ** 70}), encoding="utf-8")
    code = run_main(main, ["--config", str(config), "--model_name_or_path", "configs/tiny",
                           "--train_input_file", "x.db", "--output_dir", str(tmp_path / "run"),
                           "--skip_eval"])
    err = capsys.readouterr().err
    assert code == 2 and f"error: --seed {2 ** 70} is out of range" in err


def test_bad5_the_range_ends_are_accepted(tmp_path):
    """2**64 - 1 is the highest seed torch takes (training adds the rank modulo 2**64)."""
    from dialogpt.config import build_parser, parse_config
    from dialogpt.decoding.decoder_config import DecoderConfig
    from dialogpt.training.args import parse_args

    config = parse_args(["--seed", str(2 ** 64 - 1), "--model_name_or_path", "configs/tiny",
                         "--train_input_file", "x.db", "--output_dir", str(tmp_path),
                         "--skip_eval"])
    assert config.seed == 2 ** 64 - 1
    parser = build_parser(DecoderConfig, "test", "")
    assert parse_config(DecoderConfig, parser, ["--model", "m", "--seed", "-1"]).options.seed == -1
