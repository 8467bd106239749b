"""Responses/s of batched decoding vs the DialoGPT model card's one-at-a-time loop.

    python benchmarks/run.py decode                                   # 500 contexts (GPU-sized)
    python benchmarks/run.py decode --num_contexts 96 --loop_contexts 24 --max_new_tokens 16

A 117M-config GPT-2 with random weights (the speed does not depend on the weights; random weights
never emit EOS, so every response is exactly ``--max_new_tokens`` long on both sides, which keeps
the comparison fair). Contexts are synthetic Reddit-like histories of 1-4 turns. Both sides decode
greedily; the batched side is ``generate.py``'s path (``Decoder`` + length-sorted batches), the
loop is the model card's ``generate`` on one ``turn EOS ...`` context at a time. The loop runs on
the first ``--loop_contexts`` contexts only (a rate, not a total), and the figures include the
fraction of those responses that are identical on both sides.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("the a i you it that is was not what so just like for with this my but they have "
         "people think know really good time would one get all about more your can do when if "
         "game money happy reddit why how best way year work love lol yes no probably").split()


def synthetic_histories(count: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [[" ".join(rng.choices(WORDS, k=rng.randint(5, 30))) for _ in range(rng.randint(1, 4))]
            for _ in range(count)]


def model_card_loop(model, tokenizer, histories, max_new_tokens: int) -> list[list[int]]:
    """The Hugging Face model card's loop: encode ``turns + EOS``, ``generate``, keep the tail."""
    import torch

    eos = tokenizer.eos_token_id
    responses = []
    for history in histories:
        text = "".join(turn + tokenizer.eos_token for turn in history)
        input_ids = torch.tensor([tokenizer.encode(text)])
        with torch.inference_mode():
            output = model.generate(input_ids, attention_mask=torch.ones_like(input_ids),
                                    max_new_tokens=max_new_tokens, pad_token_id=eos,
                                    do_sample=False)
        tail = output[0, input_ids.shape[1]:].tolist()
        responses.append(tail[:tail.index(eos)] if eos in tail else tail)
    return responses


def batched(decoder, histories, batch_size: int) -> list[list[int]]:
    from dialogpt.decoding.inputs import batches_by_length

    responses: list[list[int]] = [[] for _ in histories]
    lengths = [sum(len(turn) for turn in history) for history in histories]
    for batch in batches_by_length(lengths, batch_size):
        for index, response in zip(batch, decoder.respond([histories[i] for i in batch])):
            responses[index] = response.ids
    return responses


def race(run_batched, run_loop, n_batched: int, n_loop: int) -> dict:
    """Time ``run_batched()`` then ``run_loop()`` (each returns token ids per response): rates,
    speed-up and the share of the loop's responses that the batched path decoded identically."""
    start = time.perf_counter()
    batched_ids = run_batched()
    batched_seconds = time.perf_counter() - start
    start = time.perf_counter()
    loop_ids = run_loop()
    loop_seconds = time.perf_counter() - start
    batched_rate, loop_rate = n_batched / batched_seconds, n_loop / loop_seconds
    identical = sum(a == b for a, b in zip(batched_ids, loop_ids)) / max(len(loop_ids), 1)
    return {"batched_seconds": round(batched_seconds, 2), "loop_seconds": round(loop_seconds, 2),
            "batched_responses_per_s": round(batched_rate, 2),
            "loop_responses_per_s": round(loop_rate, 2),
            "speedup": round(batched_rate / loop_rate, 2),
            "identical_greedy_responses": round(identical, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "117M"))
    parser.add_argument("--num_contexts", type=int, default=500)
    parser.add_argument("--loop_contexts", type=int, default=100,
                        help="contexts decoded by the one-at-a-time loop")
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=64,
                        help="contexts per Decoder.respond call (generate.py's greedy default)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    import torch

    from dialogpt.decoding.generation import Decoder
    from dialogpt.decoding.loading import resolve_device
    from dialogpt.decoding.options import DecodingOptions
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = resolve_device(args.device)
    tokenizer = load_tokenizer()
    model = load_model(args.config).to(device).eval()
    decoder = Decoder(model, tokenizer, DecodingOptions(max_length=args.max_new_tokens))
    histories = synthetic_histories(args.num_contexts, seed=0)
    loop_histories = histories[:args.loop_contexts]

    batched(decoder, histories[:2], 2)  # warm-up (allocator, lazy init)
    figures = race(lambda: batched(decoder, histories, args.batch_size),
                   lambda: model_card_loop(model, tokenizer, loop_histories, args.max_new_tokens),
                   len(histories), len(loop_histories))
    print(json.dumps({
        "benchmark": "decode", "model": f"{Path(args.config).name} config, random weights",
        "device": str(device), "threads": torch.get_num_threads(),
        "contexts": len(histories), "loop_contexts": len(loop_histories),
        "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size,
        "mean_context_tokens": round(sum(len(decoder.window(h).ids) for h in histories)
                                     / len(histories), 1),
        **figures,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
