"""GODEL decoding: batched seq2seq responses/s vs the GODEL model card's one-at-a-time loop.

    python benchmarks/run.py decode_seq2seq          # 128 records, 128 new tokens, T5-small shape
    python benchmarks/run.py decode_seq2seq --num_records 64 --loop_records 16 --max_new_tokens 32

The model is T5-small-shaped (``bench_train_seq2seq.T5_SMALL_SHAPE``) with random weights, and
the tokenizer a SentencePiece vocabulary trained offline on grounded dummy records
(``dialogpt.demo.grounded_data``): the speed does not depend on the weights, and random weights
never emit EOS, so every response is exactly ``--max_new_tokens`` long on both sides (default
128: the cards' ``max_length``). Both sides
decode greedily from the same card-template sources (instruction, knowledge, turns). The batched
side is ``generate.py``'s path (``Decoder`` + length-sorted batches); the loop is the model card's
recipe: ``tokenizer(query).input_ids`` then ``model.generate`` for one record at a time. The loop
runs on the first ``--loop_records`` records only (a rate, not a total); the figures include the
share of those responses that are identical on both sides.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def card_loop(model, tokenizer, sources: list[str], max_new_tokens: int) -> list[list[int]]:
    """The card's loop: encode one query, ``generate``, keep the new tokens up to EOS."""
    import torch

    responses = []
    for source in sources:
        input_ids = tokenizer(source, return_tensors="pt").input_ids
        with torch.inference_mode():
            output = model.generate(input_ids=input_ids, max_new_tokens=max_new_tokens,
                                    do_sample=False)
        tail = output[0, 1:].tolist()  # after the decoder start token
        responses.append(tail[:tail.index(tokenizer.eos_token_id)]
                         if tokenizer.eos_token_id in tail else tail)
    return responses


def batched(decoder, records: list[dict], batch_size: int) -> list[list[int]]:
    from dialogpt.decoding.inputs import batches_by_length

    responses: list[list[int]] = [[] for _ in records]
    lengths = [len(record["Context"]) + len(record["Knowledge"]) for record in records]
    for batch in batches_by_length(lengths, batch_size):
        decoded = decoder.respond([records[i]["Context"].split(" EOS ") for i in batch],
                                  knowledge=[records[i]["Knowledge"] for i in batch])
        for index, response in zip(batch, decoded):
            responses[index] = response.ids
    return responses


def build(tmp: Path, num_records: int):
    """Records, an offline SentencePiece T5 tokenizer trained on them, and a random T5-small."""
    import torch

    from dialogpt.demo.grounded_data import make_records
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer, train_t5_tokenizer

    from bench_train_seq2seq import T5_SMALL_SHAPE

    records = make_records(num_records, seed=0)
    texts = [part for record in records
             for part in (record["Context"], record["Knowledge"], record["Response"])]
    tokenizer = load_tokenizer(train_t5_tokenizer(texts, tmp / "tokenizer", vocab_size=1000))
    config = tmp / "config.json"
    config.write_text(json.dumps(T5_SMALL_SHAPE), encoding="utf-8")
    torch.manual_seed(0)
    return records, tokenizer, load_model(config).eval()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num_records", type=int, default=128)
    parser.add_argument("--loop_records", type=int, default=32,
                        help="records decoded by the one-at-a-time loop")
    parser.add_argument("--max_new_tokens", type=int, default=128,
                        help="response tokens (the model cards decode with max_length=128)")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)

    import torch

    sys.path.insert(0, str(HERE))
    from bench_decode import race

    from dialogpt.decoding.generation import Decoder
    from dialogpt.decoding.options import DecodingOptions
    from dialogpt.grounding import GROUNDED_INSTRUCTION, build_source

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        records, tokenizer, model = build(Path(scratch), args.num_records)
    from dialogpt.decoding.grounded_source import SourceSettings

    decoder = Decoder(model, tokenizer, DecodingOptions(max_length=args.max_new_tokens),
                      sources=SourceSettings(instruction=GROUNDED_INSTRUCTION))
    loop_sources = [build_source(record["Context"].split(" EOS "), record["Knowledge"],
                                 GROUNDED_INSTRUCTION) for record in records[:args.loop_records]]

    batched(decoder, records[:2], 2)  # warm-up (allocator, lazy init)
    figures = race(lambda: batched(decoder, records, args.batch_size),
                   lambda: card_loop(model, tokenizer, loop_sources, args.max_new_tokens),
                   len(records), len(loop_sources))
    print(json.dumps({
        "benchmark": "decode_seq2seq", "model": "T5-small shape, random weights",
        "threads": torch.get_num_threads(), "records": len(records),
        "loop_records": len(loop_sources), "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size,
        "mean_source_tokens": round(sum(len(tokenizer(source).input_ids)
                                        for source in loop_sources) / len(loop_sources), 1),
        **figures,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
