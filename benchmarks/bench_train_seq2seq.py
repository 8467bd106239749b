"""GODEL training throughput: LSP_train.py on a T5-small-shaped model vs a plain HF loop.

Builds grounded dummy records (dialogue context + knowledge -> response), an offline T5
SentencePiece tokenizer and the seq2seq token DB (sources <= 128 tokens, targets <= 32), then
trains a T5-small-shaped model (6+6 layers, d_model 512, d_ff 2048, 8 heads, T5's 32,128-token
vocabulary) from the same initial weights on the same batches, two ways:

- ours: ``dialogpt.training.train.main`` (token-mean loss over the labelled targets, fused AdamW,
  global-norm clipping at 1.0, logs and the step's all-reduces), throughput read from
  ``train_log.jsonl``;
- plain: ``loss = model(input_ids, attention_mask, labels=...).loss; loss.backward();
  AdamW.step()`` (what GODEL's ``train.py`` does per step, without Accelerate).

"tokens/s" counts real source tokens plus target tokens (no padding), the same for both, per
wall-clock second of the optimizer steps; "tokens_per_cpu_s" per CPU second of this process
(``time.process_time``), the steadier figure on a machine shared with other jobs. The first
``--warmup`` steps are not timed; ``best_`` figures come from the fastest step (the least
disturbed). ``--repeats`` alternates the two, to spread machine load.

    python benchmarks/run.py train_seq2seq
    python benchmarks/run.py train_seq2seq --precision bf16 --device cuda --micro_batch 32

Prints one JSON line: {"benchmark": "train_seq2seq", "results": [{"implementation",
"tokens_per_s", "best_tokens_per_s", "tokens_per_cpu_s", "median_step_s", ...}],
"ratio_ours_vs_plain_best_step": ..., "ratio_ours_vs_plain_cpu": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

T5_SMALL_SHAPE = {"model_type": "t5", "d_model": 512, "d_ff": 2048, "d_kv": 64, "num_heads": 8,
                  "num_layers": 6, "num_decoder_layers": 6, "vocab_size": 32128}


def build_inputs(tmp: Path, n_records: int) -> tuple[Path, Path]:
    """(seq2seq DB, T5-small-shaped config file) under ``tmp``."""
    from dialogpt.data.prepro import main as prepro_main
    from dialogpt.demo.grounded_data import make_records
    from dialogpt.grounding import GROUNDED_INSTRUCTION, build_source, split_context
    from dialogpt.tokenization import train_t5_tokenizer

    records = make_records(n_records, seed=5)
    texts = [build_source(split_context(r["Context"]), r["Knowledge"], GROUNDED_INSTRUCTION,
                          "card") for r in records] + [r["Response"] for r in records]
    tokenizer = train_t5_tokenizer(texts, tmp / "tokenizer", vocab_size=2000)
    corpus = tmp / "train.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    db = tmp / "train.db"
    prepro_main(["--corpus", str(corpus), "--tokenizer", str(tokenizer), "--output", str(db),
                 "--workers", "1", "--max_source_len", "128", "--max_target_len", "32",
                 "--instruction", GROUNDED_INSTRUCTION])
    config = tmp / "t5-small-shape.json"
    config.write_text(json.dumps(T5_SMALL_SHAPE), encoding="utf-8")
    return db, config


def summarise(seconds: list[float], cpu_seconds: list[float], tokens: list[int]) -> dict:
    best = max(range(len(seconds)), key=lambda i: tokens[i] / seconds[i])
    return {"tokens_per_s": sum(tokens) / sum(seconds),
            "best_tokens_per_s": tokens[best] / seconds[best],
            "tokens_per_cpu_s": sum(tokens) / sum(cpu_seconds),
            "median_step_s": statistics.median(seconds), "steps": len(seconds)}


def time_ours(config: Path, db: Path, args, out: Path) -> dict:
    """LSP_train.py's steps, each timed in wall and CPU seconds around ``Trainer.train_step``."""
    from dialogpt.training import loop
    from dialogpt.training.train import main

    seconds, cpu_seconds, tokens = [], [], []
    train_step = loop.Trainer.train_step

    def timed_step(self, micro_batches):
        wall, cpu = time.perf_counter(), time.process_time()
        result = train_step(self, micro_batches)
        seconds.append(time.perf_counter() - wall)
        cpu_seconds.append(time.process_time() - cpu)
        tokens.append(result.tokens.real)
        return result

    loop.Trainer.train_step = timed_step
    try:
        main(["--model_name_or_path", str(config), "--train_input_file", str(db), "--skip_eval",
              "--output_dir", str(out), "--train_batch_size", str(args.micro_batch),
              "--gradient_accumulation_steps", "1", "--num_optim_steps",
              str(args.steps + args.warmup), "--valid_step", str(10 ** 9), "--save_step",
              str(10 ** 9), "--precision", args.precision, "--device", args.device, "--pbar",
              "false", "--lr_schedule", "None", "--learning_rate", "1e-4", "--seed", "0"])
    finally:
        loop.Trainer.train_step = train_step
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    w = args.warmup
    row = summarise(seconds[w:], cpu_seconds[w:], tokens[w:])
    row["final_loss"] = records[-1]["loss"]
    return row


def time_plain(config: Path, db: Path, args) -> dict:
    """GODEL train.py's step on the same model and batches: the model's own loss, AdamW."""
    import torch

    from dialogpt.data.loader import BucketingDataLoader
    from dialogpt.modeling import load_model

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = load_model(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    batches = iter(BucketingDataLoader(db, args.micro_batch, max_seq_len=128, seed=0))
    seconds, cpu_seconds, tokens = [], [], []
    for _ in range(args.warmup + args.steps):
        batch = next(batches)
        started, cpu = time.perf_counter(), time.process_time()
        labels = batch["labels"].masked_fill(batch["labels"] < 0, -100).to(device)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = model(input_ids=batch["input_ids"].to(device),
                         attention_mask=batch["attention_mask"].to(device), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        loss.item()
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu)
        tokens.append(int(batch["attention_mask"].sum()) + int((batch["labels"] >= 0).sum()))
    row = summarise(seconds[args.warmup:], cpu_seconds[args.warmup:], tokens[args.warmup:])
    row["final_loss"] = loss.item()
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--micro_batch", type=int, default=8, help="examples per step")
    parser.add_argument("--steps", type=int, default=6, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of each")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)

    import logging

    import torch

    logging.disable(logging.INFO)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db, config = build_inputs(tmp, n_records=args.micro_batch * (args.steps + args.warmup)
                                  * 2)
        for repeat in range(args.repeats):
            row = time_ours(config, db, args, tmp / f"ours-{repeat}")
            results.append({"implementation": "ours (LSP_train.py)", **row})
            results.append({"implementation": "plain model(labels=) + AdamW",
                            **time_plain(config, db, args)})

    def best(name: str, key: str) -> float:
        return max(r[key] for r in results if r["implementation"] == name)

    ours, plain = "ours (LSP_train.py)", "plain model(labels=) + AdamW"
    print(json.dumps({"benchmark": "train_seq2seq", "model": T5_SMALL_SHAPE,
                      "micro_batch": args.micro_batch, "precision": args.precision,
                      "device": args.device, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "load_average": os.getloadavg(),
                      "results": results,
                      "ratio_ours_vs_plain_best_step": best(ours, "best_tokens_per_s")
                      / best(plain, "best_tokens_per_s"),
                      "ratio_ours_vs_plain_cpu": best(ours, "tokens_per_cpu_s")
                      / best(plain, "tokens_per_cpu_s")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
