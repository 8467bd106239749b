"""What this machine allows: the decoding engine's throughput on every core against a ceiling
set by the arithmetic alone, and, given a compared server's figure, as multiples of it.

    python benchmarks/bench_ceiling.py --kind godel --before 64.6   # issue 25's GODEL goal
    python benchmarks/bench_ceiling.py --rows 32 --max_tokens 32     # the 117M-shaped GPT-2

The model and requests are ``bench_engine.py``'s (``vs_vllm.py``'s seeded random weights, fp32;
``--rows`` requests of ``--max_tokens`` greedy tokens each, no EOS). Five figures, each generated
tokens per second of wall time:

1. ``arithmetic_one_core``: only the matrix products and the decode attention the tokens need,
   in one process on one core. The products: every linear layer's real weight applied to random
   inputs of the requests' shape (the prompts' tokens through the layers that read them once: a
   T5's encoder and cross-attention keys and values, a GPT-2's whole body; then ``--max_tokens``
   steps of ``--rows`` rows through the decoder and the output layer). The attention: each step's
   one query a row and layer over the positions so far and, for a T5, over its source, every row
   at the prompts' mean length. Prompt attention, norms, activations, choosing tokens and all
   bookkeeping are left out, so this is an upper bound of any decoder of this model here;
2. ``arithmetic_all_cores``: the same in one single-thread process per usable core, each with its
   share of the rows, all at once; ``arithmetic_all_threads``: in one process with a torch thread
   per core, every operation split between them. The better of the two is the ceiling of this
   machine for these requests;
3. ``engine_one_process``: ``Engine.run`` on all the requests in one process with a torch thread
   per core (what ``serve.py`` runs at its defaults, less the HTTP side);
4. ``engine_per_core``: one single-thread ``Engine.run`` process per core, each with its share of
   the requests, all at once.

Processes start together at a barrier after loading and one warm-up; each figure is the tokens of
all processes over the slowest one's wall time, the best of ``--repeats``. ``--before`` (tokens/s
of the server being compared, e.g. ``vs_vllm.py --kind godel``'s "before" at the same clients)
adds each figure as a multiple of it. The load average is printed before and after: on a shared
box, only a quiet run means anything.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def decode_attention(model, rows: int, prompt_mean: float, new: int):
    """A function running step ``t``'s attention: every decoder layer's one query a row over
    ``t + 1`` cached positions (a GPT-2's after its prompt's), and a T5's cross-attention over
    the sources, all rows at the prompts' mean length (the engine reads each group's longest)."""
    import torch
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    config = model.config
    heads = config.num_attention_heads
    head_dim = getattr(config, "d_kv", config.hidden_size // heads)
    layers = getattr(config, "num_decoder_layers", None) or config.num_hidden_layers
    prompt = round(prompt_mean)
    own = prompt + new if not config.is_encoder_decoder else new + 1
    keys = torch.randn(rows, heads, own, head_dim)
    source = torch.randn(rows, heads, prompt, head_dim) if config.is_encoder_decoder else None
    query = torch.randn(rows, heads, 1, head_dim)

    def attend(step: int) -> None:
        width = step + 1 if config.is_encoder_decoder else prompt + step + 1
        for _ in range(layers):
            sdpa(query, keys[:, :, :width], keys[:, :, :width])
            if source is not None:
                sdpa(query, source, source)
    return attend


def run_arithmetic(model, prompts, new: int) -> int:
    """The products and the decode attention of ``prompts`` for ``new`` steps (nothing else);
    the tokens generated."""
    import torch
    from bench_engine import product_layers
    from torch.nn.functional import linear

    per_prompt, per_step = product_layers(model)
    prompt_tokens, rows = sum(map(len, prompts)), len(prompts)
    attend = decode_attention(model, rows, prompt_tokens / rows, new)
    inputs = {}

    def apply(layers, count):
        for weight, conv in layers:
            width = weight.shape[0] if conv else weight.shape[1]
            if (count, width) not in inputs:
                inputs[count, width] = torch.randn(count, width)
            torch.mm(inputs[count, width], weight) if conv else linear(inputs[count, width], weight)

    with torch.inference_mode():
        apply(per_prompt, prompt_tokens)
        for step in range(new):
            apply(per_step, rows)
            attend(step)
    return rows * new


def run_engine(model, tokenizer, prompts, new: int) -> int:
    from dialogpt.decoding.engine import Engine, Request, SamplingParams

    params = SamplingParams(max_new_tokens=new, min_new_tokens=new)
    done = Engine(model, tokenizer).run([Request(list(p), params) for p in prompts])
    return sum(len(c.token_ids) for c in done)


def worker(what: str, kind: str, work: Path, part: slice, rows: int, new: int, threads: int,
           repeats: int, barrier, results) -> None:
    """One process: load, warm up, then ``repeats`` timed runs, each started at the barrier."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import torch
    from bench_engine import setup

    torch.set_num_threads(threads)
    model, tokenizer, prompts = setup(kind, work, rows)
    prompts = prompts[part]
    run = (lambda: run_arithmetic(model, prompts, new)) if what == "arithmetic" else (
        lambda: run_engine(model, tokenizer, prompts, new))
    run()
    for _ in range(repeats):
        barrier.wait()
        began = time.perf_counter()
        tokens = run()
        results.put((tokens, time.perf_counter() - began))


def measure(what: str, processes: int, threads: int, args) -> float:
    """Tokens per second of ``processes`` processes of ``threads`` threads, the rows split
    between them; the best of ``args.repeats`` runs."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    share = -(-args.rows // processes)
    children = [context.Process(target=worker, args=(
        what, args.kind, args.work, slice(index * share, (index + 1) * share), args.rows,
        args.max_tokens, threads, args.repeats, barrier, results)) for index in range(processes)]
    for child in children:
        child.start()
    try:
        runs = [[collect(results, children, what) for _ in children]
                for _ in range(args.repeats)]
    finally:
        for child in children:
            child.join(timeout=5)
            if child.is_alive():
                child.terminate()
    return max(sum(tokens for tokens, _ in run) / max(wall for _, wall in run) for run in runs)


def collect(results, children, what: str) -> tuple[int, float]:
    """The next ``(tokens, seconds)`` a child reports; SystemExit, not a hang, once one failed
    (the others then wait at the barrier for ever)."""
    import queue

    while True:
        try:
            return results.get(timeout=1.0)
        except queue.Empty:
            failed = [child.exitcode for child in children if child.exitcode]
            if failed:
                for child in children:
                    child.terminate()
                raise SystemExit(f"a {what} process failed (exit codes {failed}); its "
                                 "traceback is above") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=("dialogpt", "godel"), default="dialogpt",
                        help="dialogpt: the 117M GPT-2; godel: the GODEL-base-shaped T5")
    parser.add_argument("--rows", type=int, default=32, help="requests decoded at once")
    parser.add_argument("--max_tokens", type=int, default=32, help="greedy tokens per request")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per figure (best kept)")
    parser.add_argument("--before", type=float, default=None,
                        help="tokens/s of the server compared against (adds ratios)")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "dialogpt-bench",
                        help="where vs_vllm.py keeps its models")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from dialogpt.cli import usable_cores

    cores = usable_cores()
    load_before = os.getloadavg()
    figures = {
        "arithmetic_one_core": measure("arithmetic", 1, 1, args),
        "arithmetic_all_cores": measure("arithmetic", cores, 1, args),
        "arithmetic_all_threads": measure("arithmetic", 1, cores, args),
        "engine_one_process": measure("engine", 1, cores, args),
        "engine_per_core": measure("engine", cores, 1, args),
    }
    out = {"kind": args.kind, "rows": args.rows, "max_tokens": args.max_tokens, "cores": cores,
           "load_before": load_before, "load_after": os.getloadavg(),
           "tokens_per_s": {name: round(value, 1) for name, value in figures.items()}}
    if args.before:
        out["before_tokens_per_s"] = args.before
        out["x_before"] = {name: round(value / args.before, 2) for name, value in figures.items()}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
