#!/usr/bin/env python
"""``generate.py`` against CTranslate2 on the same checkpoint and inputs, each a whole process.

    python benchmarks/vs_ctranslate2.py [--modes greedy min_length sample seq2seq]
        [--contexts 64] [--new_tokens 32] [--repeats 2] [--threads 1] [--baseline REF]
        [--quantize int8]

CTranslate2 (``pip install ctranslate2``, the ``bench`` extra) is what CPU users pick for fast
GPT-2 and T5 inference. Both sides decode the same inputs with the same checkpoint, converted for
CTranslate2 by ``ct2-transformers-converter`` (float32; with ``--quantize int8`` also
``--quantization int8``):

- ``greedy``, ``min_length`` (``--min_length`` = ``--new_tokens`` on both sides) and ``sample``
  (top-k 20, seeded; outputs not comparable): a 117M-shaped GPT-2 with random weights
  (``configs/117M``, ``card_loop.py prepare``) and ``--contexts`` synthetic multi-turn contexts
  (TSV); CTranslate2 runs ``Generator.generate_batch`` on the same token strings (turns each
  followed by EOS), ``include_prompt_in_result=False``;
- ``seq2seq``: a GODEL-base-shaped T5 (``configs/godel-v1_1-base``, random weights) with an
  offline SentencePiece vocabulary, ``--contexts`` grounded records (JSONL, the card template);
  CTranslate2 runs ``Translator.translate_batch`` on the same source tokens.

With ``--baseline REF`` the commit ``REF`` of this repository (``git archive``; e.g. the one
before the decoding engine) runs ``generate.py`` too, in the same rotation. ``--quantize int8``
adds our ``generate.py --quantize int8`` (PyTorch dynamic int8 quantization of the linear layers)
and CTranslate2's int8 weights, to the greedy mode, and reports our int8 greedy output's
agreement with our fp32 output and the eval loss of both on held-out text (``int8_loss``).

Every command is a fresh process, timed by wall clock and CPU seconds (``vs_original.timed``);
a round runs each side once, in rotating order; medians over ``--repeats`` rounds. The load
average before and after is printed: the machine may be shared. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODES = ("greedy", "min_length", "sample", "seq2seq")
TOP_K = 20


# -- the CTranslate2 side (run as its own process: ``vs_ctranslate2.py _ct2 ...``) --------------

def ct2_run(mode: str, model_dir: Path, tokenizer_dir: Path, inputs: Path, out: Path,
            new_tokens: int, threads: int) -> None:
    """Decode ``inputs`` with CTranslate2 and write one response a line (``generate.py``'s
    format: special tokens skipped, stripped, one line)."""
    import ctranslate2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    prompts = [tokenizer.convert_ids_to_tokens(ids) for ids in _prompt_ids(mode, tokenizer,
                                                                           inputs)]
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    batch = [prompts[i] for i in order]
    if mode == "seq2seq":
        translator = ctranslate2.Translator(str(model_dir), device="cpu", intra_threads=threads)
        results = translator.translate_batch(batch, beam_size=1, max_decoding_length=new_tokens,
                                             max_batch_size=64)
        outputs = [result.hypotheses[0] for result in results]
    else:
        generator = ctranslate2.Generator(str(model_dir), device="cpu", intra_threads=threads)
        options = dict(max_length=new_tokens, include_prompt_in_result=False,
                       end_token=tokenizer.eos_token, max_batch_size=64)
        if mode == "min_length":
            options["min_length"] = new_tokens
        if mode == "sample":
            options.update(sampling_topk=TOP_K, sampling_temperature=1.0)
            ctranslate2.set_random_seed(42)
        results = generator.generate_batch(batch, **options)
        outputs = [result.sequences[0] for result in results]
    responses = [""] * len(prompts)
    for index, tokens in zip(order, outputs):
        ids = tokenizer.convert_tokens_to_ids(tokens)
        text = tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        responses[index] = " ".join(text.strip().split("\n"))
    out.write_text("".join(f"{r}\n" for r in responses), encoding="utf-8")


def _prompt_ids(mode: str, tokenizer, inputs: Path) -> list[list[int]]:
    """The token ids ``generate.py`` feeds the model for each input line."""
    from dialogpt.decoding.context import encode_turn
    from dialogpt.grounding import GROUNDED_INSTRUCTION, build_source

    lines = inputs.read_text(encoding="utf-8").splitlines()
    if mode != "seq2seq":
        return [[token for turn in line.split(" EOS ")
                 for token in (*encode_turn(tokenizer, turn), tokenizer.eos_token_id)]
                for line in lines]
    records = [json.loads(line) for line in lines]
    return [tokenizer(build_source(r["Context"].split(" EOS "), r["Knowledge"],
                                   GROUNDED_INSTRUCTION)).input_ids for r in records]


# -- set-up (untimed, cached in the work folder) -------------------------------------------------

def prepare_gpt2(work: Path, contexts: int, python: str, env: dict) -> Path:
    model = work / "gpt2" / "model"
    if not (model / "model.safetensors").exists():
        subprocess.run([python, str(HERE / "card_loop.py"), "prepare", str(work / "gpt2"),
                        str(contexts)], env=env, check=True)
        subprocess.run([python, "-c", "from dialogpt.tokenization import load_tokenizer; "
                        f"load_tokenizer().save_pretrained({str(model)!r})"], env=env, check=True)
    return model


def prepare_t5(work: Path, contexts: int, python: str, env: dict) -> Path:
    model = work / "t5" / "model"
    if not (model / "model.safetensors").exists():
        subprocess.run([python, __file__, "_t5", str(work / "t5"), str(contexts)], env=env,
                       check=True)
    return model


def build_t5(folder: Path, count: int) -> None:
    """GODEL-base-shaped T5 (seeded random weights), an offline tokenizer, grounded records."""
    import torch

    from dialogpt.demo.grounded_data import make_records
    from dialogpt.grounding import GROUNDED_INSTRUCTION
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer, train_t5_tokenizer

    records = make_records(count, seed=0)
    texts = [record[key] for record in records for key in ("Context", "Knowledge", "Response")]
    tokenizer = load_tokenizer(train_t5_tokenizer(texts, folder / "tokenizer", vocab_size=1000))
    torch.manual_seed(0)
    model = load_model(REPO / "configs" / "godel-v1_1-base")
    model.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    with open(folder / "records.jsonl", "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps({"Context": record["Context"], "Knowledge": record["Knowledge"],
                                  "Instruction": GROUNDED_INSTRUCTION}) + "\n")


def convert(model: Path, target: Path, quantization: str | None, env: dict) -> Path:
    if not (target / "model.bin").exists():
        command = [str(Path(sys.executable).parent / "ct2-transformers-converter"), "--model",
                   str(model), "--output_dir", str(target), "--force"]
        if quantization:
            command += ["--quantization", quantization]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return target


def baseline_tree(work: Path, ref: str) -> Path:
    """The files of commit ``ref`` (``git archive``; the working tree is not touched)."""
    target = work / f"baseline-{ref}"
    if not (target / "generate.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


# -- the race ------------------------------------------------------------------------------------

def ours_command(root: Path, mode: str, model: Path, inputs: Path, out: Path, new_tokens: int,
                 quantize: str | None = None) -> list[str]:
    command = [sys.executable, str(root / "generate.py"), "--model", str(model), "--input",
               str(inputs), "--output", str(out), "--max_length", str(new_tokens)]
    if mode == "min_length":
        command += ["--min_length", str(new_tokens)]
    if mode == "sample":
        command += ["--decoding", "sample", "--top_k", str(TOP_K), "--seed", "42"]
    if quantize:
        command += ["--quantize", quantize]
    return command


def race_mode(mode: str, work: Path, args, env: dict) -> dict:
    from vs_original import _remove, rotate, timed

    python = sys.executable
    seq2seq = mode == "seq2seq"
    model = (prepare_t5 if seq2seq else prepare_gpt2)(work, args.contexts, python, env)
    inputs = work / "t5" / "records.jsonl" if seq2seq else work / "gpt2" / "contexts.tsv"
    ct2_model = convert(model, model.parent / "ct2-float32", None, env)
    folder = work / mode
    folder.mkdir(parents=True, exist_ok=True)
    sides = {"ours": (REPO, None)}
    if args.baseline and mode != "seq2seq":
        sides["baseline"] = (baseline_tree(work, args.baseline), None)
    ct2_sides = {"ctranslate2": ct2_model}
    if args.quantize and mode == "greedy":
        sides["ours_int8"] = (REPO, args.quantize)
        ct2_sides["ctranslate2_int8"] = convert(model, model.parent / f"ct2-{args.quantize}",
                                                args.quantize, env)
    jobs = {}
    for name, (root, quantize) in sides.items():
        out = folder / f"{name}.txt"
        side_env = {**env, "PYTHONPATH": str(root)}
        jobs[name] = (_remove(out), lambda c=ours_command(root, mode, model, inputs, out,
                                                          args.new_tokens, quantize),
                      e=side_env: timed(c, e))
    for name, ct2_dir in ct2_sides.items():
        out = folder / f"{name}.txt"
        command = [python, __file__, "_ct2", mode, str(ct2_dir), str(model), str(inputs),
                   str(out), str(args.new_tokens), str(args.threads)]
        jobs[name] = (_remove(out), lambda c=command: timed(c, env))
    times = rotate(jobs, args.repeats)
    texts = {name: (folder / f"{name}.txt").read_text(encoding="utf-8").splitlines()
             for name in jobs}
    wall = {name: statistics.median(t.wall for t in runs) for name, runs in times.items()}
    cpu = {name: statistics.median(t.cpu for t in runs) for name, runs in times.items()}
    result = {"mode": mode, "times": {
        name: {"median_wall_s": round(wall[name], 2), "median_cpu_s": round(cpu[name], 2),
               "runs_wall_s": [t.wall for t in times[name]],
               "speed_vs_ct2_fp32_wall": round(wall["ctranslate2"] / wall[name], 2),
               "speed_vs_ct2_fp32_cpu": round(cpu["ctranslate2"] / cpu[name], 2)}
        for name in jobs}}
    if mode != "sample":
        result["same_outputs_as_ours"] = {
            name: sum(a == b for a, b in zip(texts["ours"], text)) / len(text)
            for name, text in texts.items() if name != "ours"}
    return result


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_ct2":
        mode, ct2_dir, tokenizer_dir, inputs, out, tokens, threads = argv[1:]
        ct2_run(mode, Path(ct2_dir), Path(tokenizer_dir), Path(inputs), Path(out), int(tokens),
                int(threads))
        return 0
    if argv and argv[0] == "_t5":
        build_t5(Path(argv[1]), int(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--contexts", type=int, default=64, help="inputs decoded per run")
    parser.add_argument("--new_tokens", type=int, default=32, help="tokens per response")
    parser.add_argument("--repeats", type=int, default=2, help="rounds (medians over them)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of both sides (OMP_NUM_THREADS / intra_threads)")
    parser.add_argument("--baseline", default=None,
                        help="a commit of this repository whose generate.py runs too")
    parser.add_argument("--quantize", choices=["int8"], default=None,
                        help="add int8 sides (ours: dynamic quantization; CTranslate2: int8)")
    parser.add_argument("--work", default=None,
                        help="folder for models and outputs (default: a temporary one)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.work or scratch)
        work.mkdir(parents=True, exist_ok=True)
        before = load_average()
        modes = [race_mode(mode, work, args, env) for mode in args.modes]
        report = {"benchmark": "vs_ctranslate2", "contexts": args.contexts,
                  "new_tokens": args.new_tokens, "threads": args.threads,
                  "repeats": args.repeats, "load_average": [before, load_average()],
                  "modes": modes}
        if args.quantize:
            report["int8_loss"] = int8_loss(work)
    print(json.dumps(report))
    return 0


def int8_loss(work: Path) -> dict:
    """Mean next-token loss of the fp32 and the int8 117M model on the contexts (the responses
    of a random model are no held-out text; the contexts are)."""
    import torch

    from dialogpt.decoding.quantize import quantize_int8
    from dialogpt.modeling import load_model
    from dialogpt.tokenization import load_tokenizer

    model = load_model(work / "gpt2" / "model").eval()
    tokenizer = load_tokenizer(str(work / "gpt2" / "model"))
    ids = _prompt_ids("greedy", tokenizer, work / "gpt2" / "contexts.tsv")
    losses = {}
    for name, candidate in (("fp32", model), ("int8", quantize_int8(load_model(
            work / "gpt2" / "model").eval()))):
        total, count = 0.0, 0
        with torch.inference_mode():
            for row in ids:
                tensor = torch.tensor([row[:1024]])
                loss = candidate(input_ids=tensor, labels=tensor).loss
                total += float(loss) * (tensor.shape[1] - 1)
                count += tensor.shape[1] - 1
        losses[name] = round(total / count, 4)
    return losses


if __name__ == "__main__":
    raise SystemExit(main())
