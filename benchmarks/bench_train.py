"""Training throughput of LSP_train.py: tokens/s (real input tokens and labelled tokens).

Builds a synthetic dialogue corpus (4 turns of ~28 words, ~120 tokens per example, the first turn
unpredicted as in DialoGPT data), its token DB, and trains with ``dialogpt.training.train.main``
for a few optimizer steps per (config, precision); throughput is read from ``train_log.jsonl``,
leaving out the first ``--warmup`` steps.

``--baseline`` also times an original-style step on the same batches and model: fp32, logits over
the full vocabulary at every position, per-micro-batch cross-entropy, BERT-Adam with per-tensor
clipping (what the original LSP_train.py computes; its own code needs apex and old torch).

    python benchmarks/run.py train                            # tiny: fp32, bf16 (+ baseline)
    python benchmarks/run.py train --configs tiny 117M --micro_batch 32 4
    python benchmarks/run.py train --configs 345M --precisions bf16 --device cuda --steps 20
    bash benchmarks/gpu_check.sh          # everything a lent GPU machine should run, in one call

Prints one JSON line: {"results": [{"config", "precision", "device", "micro_batch", "seq",
"tokens_per_s", "labelled_tokens_per_s", "best_tokens_per_s", "median_step_s", ...}], ...};
"best_" figures come from the fastest step, the least disturbed on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORDS = ("the a cat dog likes runs to home why not yes no maybe good bad movie music play game "
         "great idea think know love hate time day night people world really thing").split()


def write_corpus(path: Path, n_lines: int, seed: int = 0) -> Path:
    rng = random.Random(seed)

    def turn() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(24, 30)))

    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(n_lines):
            handle.write(f"{turn()} EOS {turn()} EOS {turn()}\t{turn()}\n")
    return path


def build_db(tmp: Path, n_lines: int) -> Path:
    from dialogpt.data.prepro import main as prepro_main

    tsv = write_corpus(tmp / "bench.tsv", n_lines)
    prepro_main(["--corpus", str(tsv), "--max_seq_len", "128", "--workers", "1"])
    return tmp / "bench.128len.db"


def model_flops(config, seq: int) -> tuple[float, float]:
    """Training FLOPs (forward + backward = 3 x forward) as (per real token, per labelled token).

    Every real token goes through the transformer body (6 x 12 x layers x width^2) and attention
    (12 x layers x width x seq, the usual count for a full-length causal window); only labelled
    tokens go through the 50,257-way output projection (6 x vocab x width), because that is all
    our loss computes. MFU from these counts credits none of the work the loss skips.
    """
    body = 6 * 12 * config.n_layer * config.n_embd ** 2 + 12 * config.n_layer * config.n_embd * seq
    return float(body), float(6 * config.vocab_size * config.n_embd)


def time_ours(config_dir: Path, db: Path, precision: str, micro_batch: int, steps: int,
              warmup: int, device: str, tmp: Path, extra: list[str]) -> dict:
    from dialogpt.training.train import main

    out = tmp / f"run-{config_dir.name}-{precision}-{micro_batch}"
    argv = ["--model_name_or_path", str(config_dir), "--train_input_file", str(db),
            "--skip_eval", "--output_dir", str(out), "--train_batch_size", str(micro_batch),
            "--gradient_accumulation_steps", "1", "--num_optim_steps", str(steps + warmup),
            "--valid_step", str(10 ** 9), "--precision", precision, "--pbar", "false",
            "--lr_schedule", "None", "--learning_rate", "1e-4", "--device", device, *extra]
    main(argv)
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    timed = records[warmup:]
    row = summarise([r["n_token_real_step"] / r["tokens_per_s"] for r in timed],
                    [r["n_token_real_step"] for r in timed],
                    [r["n_token_labelled_step"] for r in timed])
    row["final_loss"] = timed[-1]["loss"]
    return row


def summarise(seconds: list[float], real: list[int], labelled: list[int]) -> dict:
    """Throughput over all timed steps, plus the fastest step's (the least disturbed by other
    load on a shared machine)."""
    best = max(range(len(seconds)), key=lambda i: real[i] / seconds[i])
    return {"tokens_per_s": sum(real) / sum(seconds),
            "labelled_tokens_per_s": sum(labelled) / sum(seconds),
            "best_tokens_per_s": real[best] / seconds[best],
            "best_labelled_tokens_per_s": labelled[best] / seconds[best],
            "median_step_s": statistics.median(seconds)}


def time_original_style(config_dir: Path, db: Path, micro_batch: int, steps: int,
                        warmup: int) -> dict:
    """The original's per-step work on our model and batches (fp32, CPU)."""
    import torch
    from torch.nn import functional as F

    from dialogpt.data.loader import BucketingDataLoader
    from dialogpt.modeling import load_model
    from dialogpt.training.optim import BertAdam

    torch.manual_seed(0)
    model = load_model(config_dir).train()
    optimizer = BertAdam(model.parameters(), lr=1e-4)
    loader = BucketingDataLoader(db, micro_batch, max_seq_len=128, seed=42)
    batches = iter(loader)
    times, real, labelled = [], [], []
    for _ in range(warmup + steps):
        batch = next(batches)
        started = time.perf_counter()
        logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits
        labels = batch["labels"]
        token_losses = F.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1),
                                       ignore_index=-1, reduction="none").view_as(labels)
        counts = (labels != -1).sum(dim=1).float()
        loss = token_losses.sum() / counts.sum()
        _ppl = torch.exp(torch.mean(token_losses.sum(dim=1) / counts))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        _ = (loss.item(), _ppl.item())
        times.append(time.perf_counter() - started)
        real.append(int(batch["attention_mask"].sum()))
        labelled.append(int((labels >= 0).sum()))
    return summarise(times[warmup:], real[warmup:], labelled[warmup:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["tiny"], help="configs/ names")
    parser.add_argument("--micro_batch", nargs="+", type=int, default=[32],
                        help="micro-batch per config (one value applies to all)")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=8, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--peak_tflops", type=float, default=989.0,
                        help="accelerator peak for MFU (H100 SXM and H200 dense bf16/fp16: 989)")
    parser.add_argument("--compile", action="store_true",
                        help="pass --compile to LSP_train.py (torch.compile; minutes of start-up)")
    parser.add_argument("--num_workers", type=int, default=0,
                        help="LSP_train.py --num_workers (batch prefetch thread depth / 2)")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the original-style fp32 step (CPU only)")
    args = parser.parse_args(argv)

    import logging

    import torch
    from transformers import AutoConfig

    logging.disable(logging.INFO)
    if args.threads:
        torch.set_num_threads(args.threads)
    micro_batches = (args.micro_batch * len(args.configs) if len(args.micro_batch) == 1
                     else args.micro_batch)
    extra = ["--num_workers", str(args.num_workers)] + (["--compile"] if args.compile else [])
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db = build_db(tmp, n_lines=max(micro_batches) * (args.steps + args.warmup) * 2)
        for name, micro_batch in zip(args.configs, micro_batches, strict=True):
            config_dir = REPO / "configs" / name
            config = AutoConfig.from_pretrained(config_dir)
            per_real, per_labelled = model_flops(config, seq=128)
            for precision in args.precisions:
                row = time_ours(config_dir, db, precision, micro_batch, args.steps, args.warmup,
                                args.device, tmp, extra)
                row.update(config=name, precision=precision, device=args.device,
                           micro_batch=micro_batch, seq=128, implementation="ours",
                           compiled=args.compile,
                           model_tflops=(row["tokens_per_s"] * per_real
                                         + row["labelled_tokens_per_s"] * per_labelled) / 1e12)
                if args.device == "cuda":
                    row["mfu"] = row["model_tflops"] / args.peak_tflops
                results.append(row)
            if args.baseline and args.device == "cpu":
                row = time_original_style(config_dir, db, micro_batch, args.steps, args.warmup)
                row.update(config=name, precision="fp32", device="cpu", micro_batch=micro_batch,
                           seq=128, implementation="original-style")
                results.append(row)
    print(json.dumps({"benchmark": "train", "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "load_average": os.getloadavg(),
                      "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
