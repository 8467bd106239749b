"""Untimed preparations for ``bench_readme_times.py``: what a README command needs in place.

Each preparation is idempotent and cached in the work directory (``WORK/GROUP/...``, with
``WORK/shared/`` for what several groups use), so ``--only ID`` runs one command on its own and a
second run reuses the synthetic dumps and the random-weight models. Where a preparation needs
another README command's output (``data/train.tsv`` from the extraction, a DB from ``prepro.py``)
it runs that command, untimed. ``PREPARE[name](bench)`` runs one; ``bench`` is the runner
(:class:`bench_readme_times.Bench`), which knows the folders and runs shell commands.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL_SUBMISSIONS = 100
"""Submissions per synthetic month of the SIZE=small run (about 6 comments each)."""
RATE_SUBMISSIONS = 40_000
"""Submissions per synthetic month of the per-million-comments measurement."""
VALID_LINES = 32
MMI_CONTEXTS = 8
"""Contexts of the MMI measurement (16 candidates each; in its own folder, ``mmi/``)."""
GODEL_RECORDS = 32
SEED = 0


def small_months() -> list[str]:
    text = (ROOT / "reddit_extractor" / "configs" / "Makefile.small").read_text()
    block = text.split("TRAIN_MONTHS ?=", 1)[1].split("TEST_MONTHS", 1)[0]
    return re.findall(r"\d{4}-\d{2}", block)


def _write_months(dumps: Path, keys: Path, months, submissions: int) -> int:
    from dialogpt.extraction.synthetic import write_synthetic_keys, write_synthetic_month

    comments = 0
    for month in months:
        made = write_synthetic_month(dumps, month, submissions, seed=SEED)
        write_synthetic_keys(keys, month, dumps, seed=SEED)
        comments += made.n_comments
    return comments


def small_dumps(bench) -> None:
    extractor = bench.group_dir("dialog") / "reddit_extractor"
    if "small_comments" not in bench.meta:
        bench.meta["small_comments"] = _write_months(extractor / "dumps", extractor / "keys",
                                                     small_months(), SMALL_SUBMISSIONS)
        bench.save_meta()


def rate_dumps(bench) -> None:
    from benchmarks.readme_commands import RATE_MONTHS

    rate = bench.group_dir("dialog") / "reddit_extractor" / "rate"
    if "rate_comments" not in bench.meta:
        bench.meta["rate_comments"] = _write_months(rate / "dumps", rate / "keys", RATE_MONTHS,
                                                    RATE_SUBMISSIONS)
        bench.meta["rate_comments_per_month"] = bench.meta["rate_comments"] // len(RATE_MONTHS)
        bench.save_meta()


def train_tsv(bench) -> None:
    data = bench.group_dir("dialog") / "data"
    if not (data / "train.tsv").exists() or "train_lines" not in bench.meta:
        bench.prepare("small_dumps")
        bench.shell("extract_small")
        bench.meta["train_lines"] = _count_lines(data / "train.tsv")
        bench.save_meta()


def valid_tsv(bench) -> None:
    """``data/valid.tsv``: every n-th line of ``train.tsv``, ``VALID_LINES`` of them (rewritten
    each time: the extraction writes its own, empty with the default VALID_FRACTION=0)."""
    bench.prepare("train_tsv")
    data = bench.group_dir("dialog") / "data"
    lines = (data / "train.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    step = max(1, len(lines) // VALID_LINES)
    chosen = lines[::step][:VALID_LINES]
    (data / "valid.tsv").write_text("".join(chosen), encoding="utf-8")
    bench.meta["valid_lines"] = len(chosen)
    bench.save_meta()


def db(bench) -> None:
    if not (bench.group_dir("dialog") / "data" / "train.128len.db").exists():
        bench.prepare("train_tsv")
        bench.shell("prepro")


def small_ft_pkl(bench) -> None:
    """``small_ft.pkl``: random 117M weights in the original checkpoint's key layout."""
    target = bench.group_dir("dialog") / "small_ft.pkl"
    if target.exists():
        return
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(SEED)
    config = GPT2Config.from_pretrained(ROOT / "configs" / "117M")
    model = GPT2LMHeadModel(config)
    state = {}
    for key, value in model.state_dict().items():
        state["module." + ("lm_head.decoder.weight" if key == "lm_head.weight" else key)] = value
    n_ctx = config.n_positions
    for layer in range(config.n_layer):
        state[f"module.transformer.h.{layer}.attn.bias"] = torch.tril(
            torch.ones(n_ctx, n_ctx)).view(1, 1, n_ctx, n_ctx)
    partial = target.with_suffix(".pkl.part")
    torch.save(state, partial)
    partial.replace(target)


def model_117m(bench) -> None:
    """A converted random 117M model (weights, config, tokenizer, manifest) in ``shared/``, and
    ``models/run/checkpoint-step-N`` pointing at it."""
    shared = bench.work / "shared" / "random-117M"
    if not (shared / "manifest.json").exists():
        bench.prepare("small_ft_pkl")
        bench.run_plain(["python", "convert_checkpoint.py", "--checkpoint", "small_ft.pkl",
                         "--config", "configs/117M", "--output_dir", str(shared), "--force"],
                        "dialog")
    models = bench.group_dir("dialog") / "models"
    for link in ("run/checkpoint-step-N",):
        path = models / link
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(shared)


def run_logs(bench) -> None:
    if not (bench.group_dir("dialog") / "models" / "run" / "train_log.jsonl").exists():
        bench.prepare("db")
        bench.prepare("valid_tsv")
        bench.measure("train_117m")


def refs(bench) -> None:
    bench.prepare("valid_tsv")
    data = bench.group_dir("dialog") / "data"
    if not (data / "test.refs.txt").exists():
        bench.shell("make_refs")
    bench.meta["refs_lines"] = _count_lines(data / "test.refs.txt")
    bench.save_meta()


def mmi_refs(bench) -> None:
    """``mmi/data/test.refs.txt``: the first ``MMI_CONTEXTS`` lines of the dialog refs, and
    ``mmi/models/fwd``, ``mmi/models/rev`` pointing at the random 117M model."""
    bench.prepare("refs")
    bench.prepare("model_117m")
    group = bench.group_dir("mmi")
    lines = (bench.group_dir("dialog") / "data" / "test.refs.txt").read_text(
        encoding="utf-8").splitlines(keepends=True)
    (group / "data").mkdir(exist_ok=True)
    (group / "data" / "test.refs.txt").write_text("".join(lines[:MMI_CONTEXTS]), encoding="utf-8")
    for name in ("fwd", "rev"):
        link = group / "models" / name
        if not link.exists():
            link.parent.mkdir(exist_ok=True)
            link.symlink_to(bench.work / "shared" / "random-117M")
    bench.meta["mmi_contexts"] = min(MMI_CONTEXTS, len(lines))
    bench.save_meta()


def hyp(bench) -> None:
    out = bench.group_dir("dialog") / "out.resp.txt"
    if not out.exists() or _count_lines(out) != bench.meta.get("refs_lines"):
        bench.shell("generate")


def dstc_case(bench) -> None:
    case = ROOT / "tests" / "assets" / "eval-cases" / "synth200"
    group = bench.group_dir("dialog")
    for source, name in (("refs.txt", "refs.txt"), ("keys.txt", "keys.2k.txt"),
                         ("hyp_shuffle.txt", "submission.txt")):
        shutil.copyfile(case / source, group / name)


def godel_tsv(bench) -> None:
    bench.prepare("valid_tsv")
    source, data = bench.group_dir("dialog") / "data", bench.group_dir("godel") / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name in ("train.tsv", "valid.tsv"):
        if not (data / name).exists() or (data / name).stat().st_mtime < (
                source / name).stat().st_mtime:
            shutil.copyfile(source / name, data / name)


def _convert(bench, source: str, target: str) -> None:
    bench.run_plain(["python", "-m", "dialogpt.data.convert_tsv", "--input", source, "--output",
                     target], "godel")


def godel_jsonl(bench) -> None:
    bench.prepare("godel_tsv")
    if not (bench.group_dir("godel") / "data" / "train.jsonl").exists():
        bench.shell("convert_tsv")


def godel_model(bench) -> None:
    """``microsoft/GODEL-v1_1-base-seq2seq`` as a local folder: random weights of
    ``configs/godel-v1_1-base`` and a T5 vocabulary trained on ``data/train.jsonl``."""
    bench.prepare("godel_jsonl")
    target = bench.group_dir("godel") / "microsoft" / "GODEL-v1_1-base-seq2seq"
    if (target / "config.json").exists():
        return
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from dialogpt.tokenization import train_t5_tokenizer

    texts = []
    for line in (bench.group_dir("godel") / "data" / "train.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        context = record["Context"]
        texts.append(" ".join(context) if isinstance(context, list) else context)
        texts.append(record["Response"])
    partial = target.with_name(target.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    train_t5_tokenizer(texts, partial, vocab_size=8000, model_type="bpe")
    torch.manual_seed(SEED)
    config = T5Config.from_pretrained(ROOT / "configs" / "godel-v1_1-base")
    config.decoder_start_token_id = 0  # as the Hub model's config.json has it
    model = T5ForConditionalGeneration(config)
    model.save_pretrained(partial)
    partial.replace(target)


def godel_db(bench) -> None:
    if not (bench.group_dir("godel") / "data" / "train.512src128tgt.card.db").exists():
        bench.prepare("godel_model")
        bench.shell("prepro_godel")


def godel_valid(bench) -> None:
    bench.prepare("godel_tsv")
    _convert(bench, "data/valid.tsv", "data/valid.jsonl")


def godel_test(bench) -> None:
    bench.prepare("godel_tsv")
    _convert(bench, "data/valid.tsv", "data/test.jsonl")
    group = bench.group_dir("godel")
    hyps = []
    for line in (group / "data" / "test.jsonl").open(encoding="utf-8"):
        words = json.loads(line)["Response"].split()
        hyps.append(" ".join(words[:max(1, len(words) // 2)]) + "\n")
    (group / "test.resp.txt").write_text("".join(hyps), encoding="utf-8")


def godel_grounded(bench) -> None:
    from dialogpt.demo.grounded_data import make_records

    path = bench.group_dir("godel") / "data" / "grounded" / "test.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n"
                            for record in make_records(GODEL_RECORDS, seed=SEED)),
                    encoding="utf-8")
    bench.meta["godel_records"] = GODEL_RECORDS
    bench.save_meta()


def demo_small_dumps(bench) -> None:
    bench.prepare("small_dumps")
    link = bench.group_dir("demo_small") / "dumps"
    if not link.exists():
        link.symlink_to(bench.group_dir("dialog") / "reddit_extractor" / "dumps")


def grounded_demo(bench) -> None:
    if not (bench.group_dir("grounded") / "models" / "demo-grounded" / "train" /
            "checkpoint-step-500").exists():
        bench.shell("demo_grounded")


def grounded_hyp(bench) -> None:
    if not (bench.group_dir("grounded") / "test.resp.txt").exists():
        bench.shell("grounded_generate")


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


PREPARE = {function.__name__: function for function in (
    small_dumps, rate_dumps, train_tsv, valid_tsv, db, small_ft_pkl, model_117m, run_logs, refs,
    mmi_refs, hyp, dstc_case, godel_tsv, godel_jsonl, godel_model, godel_db, godel_valid, godel_test,
    godel_grounded, demo_small_dumps, grounded_demo, grounded_hyp)}
