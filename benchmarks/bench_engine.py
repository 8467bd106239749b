"""The decoding engine alone (no server): CPU seconds per generated token against a FLOP floor
and Hugging Face ``generate`` on the same batch.

    python benchmarks/bench_engine.py                      # 1, 8 and 32 rows x 32 greedy tokens
    python benchmarks/bench_engine.py --rows 32 --profile 25
    python benchmarks/bench_engine.py --kind godel --max_tokens 16   # GODEL-base-shaped T5

The model is ``vs_vllm.py``'s: the 117M-shaped GPT-2 with seeded random weights (made once under
``--work``), fp32, one torch thread; the prompts are ``vs_vllm.py``'s token-id dialogs.
``--kind godel``: its GODEL-base-shaped T5 and text dialogs, made into sources by
``Decoder.window`` as ``serve.py`` does (the figures then include encoding the sources, and so
does the floor: the encoder's products and the cross-attention keys and values, spread over the
generated tokens). For each
batch size ``B``: the engine decodes ``B`` requests submitted together (``Engine.run``), and HF
``generate`` decodes the same ``B`` prompts left-padded in one batch (greedy, ``min_new_tokens`` =
``max_new_tokens``, as the server benchmark asks); both repeated ``--repeats`` times alternating,
the best of each kept. Figures are process CPU seconds (``time.process_time``: the box is shared,
wall time is noisy) per generated token, and the outputs are compared.

The floor: the multiply-adds a step cannot avoid (every layer's weights and the output layer
once per generated token: ``2 x params`` FLOPs a token, plus attention over the cached
positions), divided by this core's matrix-product rate measured with a ``torch.mm`` loop of the
decode step's shape (``B x 768`` by ``768 x 3072``).
``--profile N``: ``torch.profiler`` of one engine run, the top ``N`` operators by self CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def matmul_rate(rows: int, seconds: float = 1.0) -> float:
    """GFLOP/s of ``[rows, 768] @ [768, 3072]`` on this core (CPU time)."""
    import torch

    a, b = torch.randn(rows, 768), torch.randn(768, 3072)
    for _ in range(3):
        a @ b
    count, began = 0, time.process_time()
    while time.process_time() - began < seconds:
        for _ in range(10):
            a @ b
        count += 10
    return 2 * rows * 768 * 3072 * count / (time.process_time() - began) / 1e9


def floor_per_token(model, rows: int, prompt_len: float, new: int) -> float:
    """Seconds a token at least: the products' FLOPs over the measured rate."""
    config = model.config
    if config.is_encoder_decoder:
        return seq2seq_flops(model, prompt_len, new) / (matmul_rate(rows) * 1e9)
    params = weight_count(product_layers(model)[1])
    attention = 4 * config.n_layer * config.n_embd * (prompt_len + new / 2)
    prefill = 2 * params * prompt_len / new  # the prompt's tokens, spread over the new ones
    return (2 * params + attention + prefill) / (matmul_rate(rows) * 1e9)


def seq2seq_flops(model, source_len: float, new: int) -> float:
    """A T5's products a generated token: the decoder's (q/o of cross-attention included) and
    the output layer; per source token the encoder and the cross-attention keys/values, spread
    over the ``new`` tokens."""
    per_source, per_token = product_layers(model)
    return 2 * weight_count(per_token) + 2 * weight_count(per_source) * source_len / new


def product_layers(model) -> tuple[list, list]:
    """The weights applied once per prompt token and once per generated token, as ``(weight,
    transposed)`` pairs (GPT-2's ``Conv1D`` keeps ``[in, out]``, ``nn.Linear`` ``[out, in]``)."""
    from torch import nn

    head = model.get_output_embeddings()
    per_prompt, per_step = [], [(head.weight, False)]
    for name, module in model.named_modules():
        if module is head:
            continue
        if isinstance(module, nn.Linear):
            layer = (module.weight, False)
        elif type(module).__name__ == "Conv1D":
            layer = (module.weight, True)
        else:
            continue
        if not model.config.is_encoder_decoder:
            per_prompt.append(layer)
            per_step.append(layer)
        elif name.startswith("encoder.") or ".EncDecAttention.k" in name \
                or ".EncDecAttention.v" in name:
            per_prompt.append(layer)
        else:
            per_step.append(layer)
    return per_prompt, per_step


def weight_count(layers) -> int:
    return sum(weight.numel() for weight, _ in layers)


def engine_run(model, tokenizer, prompts, new: int):
    from dialogpt.decoding.engine import Engine, Request, SamplingParams

    params = SamplingParams(max_new_tokens=new, min_new_tokens=new)
    engine = Engine(model, tokenizer)
    began = time.process_time()
    done = engine.run([Request(list(p), params) for p in prompts])
    return time.process_time() - began, [list(c.token_ids) for c in done]


def hf_run(model, prompts, new: int, eos: int):
    import torch

    if model.config.is_encoder_decoder:  # right-padded sources, as the old server batched
        pad = model.config.pad_token_id
        width = max(map(len, prompts))
        ids = torch.tensor([list(p) + [pad] * (width - len(p)) for p in prompts])
        mask = torch.tensor([[1] * len(p) + [0] * (width - len(p)) for p in prompts])
        began = time.process_time()
        with torch.inference_mode():
            out = model.generate(ids, attention_mask=mask, do_sample=False, num_beams=1,
                                 max_new_tokens=new, min_new_tokens=new)
        return time.process_time() - began, out[:, 1:].tolist()
    width = max(map(len, prompts))
    ids = torch.tensor([[eos] * (width - len(p)) + list(p) for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    began = time.process_time()
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=new,
                             min_new_tokens=new, pad_token_id=eos, eos_token_id=eos)
    return time.process_time() - began, out[:, width:].tolist()


def profile(model, tokenizer, prompts, new: int, top: int) -> list:
    from torch.profiler import ProfilerActivity, profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        engine_run(model, tokenizer, prompts, new)
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    return [{"op": e.key, "calls": e.count, "self_s": round(e.self_cpu_time_total / 1e6, 3)}
            for e in rows[:top]]


def setup(kind: str, work: Path, count: int):
    """The model, its tokenizer and ``count`` prompts as token ids (sources for GODEL)."""
    from vs_vllm import godel_model, gpt2_model, make_prompts

    from dialogpt.decoding.loading import DecoderSpec, load_decoder
    from dialogpt.decoding.options import DecodingOptions

    folder = godel_model(work) if kind == "godel" else gpt2_model(work)
    decoder = load_decoder(DecoderSpec(str(folder), device="cpu"), DecodingOptions())
    prompts = make_prompts(kind, folder, count, 0)
    if kind == "godel":
        prompts = [list(decoder.window(text.split(" EOS ")).ids) for text in prompts]
    return decoder.model.eval(), decoder.tokenizer, prompts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=("dialogpt", "godel"), default="dialogpt",
                        help="dialogpt: the 117M GPT-2; godel: the GODEL-base-shaped T5")
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 8, 32],
                        help="concurrent requests (batch sizes)")
    parser.add_argument("--max_tokens", type=int, default=32, help="greedy tokens per request")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs per side")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--profile", type=int, default=0,
                        help="profile one engine run at the largest batch, top N operators")
    parser.add_argument("--no_hf", action="store_true", help="skip Hugging Face generate")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "dialogpt-bench",
                        help="where vs_vllm.py keeps its model")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import torch

    torch.set_num_threads(args.threads)
    model, tokenizer, prompts = setup(args.kind, args.work, max(args.rows))
    new, results = args.max_tokens, {}
    load_before = os.getloadavg()
    for rows in args.rows:
        batch = prompts[:rows]
        mean_len = sum(map(len, batch)) / rows
        tokens = rows * new
        engine_best = hf_best = float("inf")
        same = None
        for _ in range(args.repeats):
            seconds, ours = engine_run(model, tokenizer, batch, new)
            engine_best = min(engine_best, seconds)
            if not args.no_hf:
                seconds, theirs = hf_run(model, batch, new, tokenizer.eos_token_id)
                if model.config.is_encoder_decoder:  # HF keeps generating after EOS (padded)
                    theirs = [t[:len(o)] for t, o in zip(theirs, ours)]
                hf_best = min(hf_best, seconds)
                same = sum(a == b for a, b in zip(ours, theirs))
        floor = floor_per_token(model, rows, mean_len, new)
        results[rows] = {
            "prompt_tokens_mean": round(mean_len, 1),
            "engine_ms_per_token": round(1e3 * engine_best / tokens, 2),
            "hf_ms_per_token": None if args.no_hf else round(1e3 * hf_best / tokens, 2),
            "floor_ms_per_token": round(1e3 * floor, 2),
            "engine_over_floor": round(engine_best / tokens / floor, 2),
            "identical": None if same is None else f"{same}/{rows}"}
    out = {"threads": args.threads, "max_tokens": new, "load_before": load_before,
           "load_after": os.getloadavg(), "rows": results}
    if args.profile:
        out["profile"] = profile(model, tokenizer, prompts[:max(args.rows)], new, args.profile)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
