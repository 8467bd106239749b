"""Throughput and latency of ``serve.py`` with 1, 8 and 32 concurrent clients, batched vs not.

    python benchmarks/run.py serve                       # configs/117M, random weights
    python benchmarks/run.py serve --clients 1 8 --max_tokens 8 --model configs/tiny

Starts ``serve.py`` twice as a subprocess on 127.0.0.1 (a free port, no page): once with its
default dynamic batching (``--max_batch_size 32``) and once with ``--max_batch_size 1`` (one request
at a time), on the same model and flags. Each of ``C`` clients sends chat requests back to back
(greedy, ``max_tokens`` = ``min_tokens``, so every reply has the same length on both servers:
random weights rarely emit EOS, and ``min_tokens`` forbids it) with synthetic Reddit-like dialogs
of 1-3 turns. Figures per server and client count: requests/s, generated tokens/s, and p50/p95
latency. The JSON line ends with the batched/unbatched throughput ratio at each client count.
The server runs with ``OMP_NUM_THREADS=--threads`` (default 1: on a machine shared with other
work, two threads per process oversubscribe the cores and every step waits on the other).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dialogs(count: int, seed: int) -> list[list[dict]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        turns = [" ".join(rng.choices(WORDS, k=rng.randint(5, 20)))
                 for _ in range(rng.randint(1, 3))]
        out.append([{"role": "user" if (len(turns) - 1 - i) % 2 == 0 else "assistant",
                     "content": turn} for i, turn in enumerate(turns)])
    return out


def start_server(model: str, max_batch_size: int, max_tokens: int, device: str, threads: int):
    port = free_port()
    command = [sys.executable, str(ROOT / "serve.py"), "--model", model, "--port", str(port),
               "--page", "false", "--max_batch_size", str(max_batch_size),
               "--max_length", str(max_tokens), "--device", device, "--max_queue", "1024"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False",
                                    "OMP_NUM_THREADS": str(threads)})
    import httpx

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve.py exited: {process.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process, f"http://127.0.0.1:{port}"
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("serve.py did not start in 300 s")


async def load(url: str, clients: int, per_client: int, max_tokens: int, seed: int) -> dict:
    import httpx

    prompts = dialogs(clients * per_client, seed)
    latencies: list[float] = []
    tokens = 0

    async def client(index: int, http: httpx.AsyncClient) -> None:
        nonlocal tokens
        for k in range(per_client):
            body = {"messages": prompts[index * per_client + k], "temperature": 0,
                    "max_tokens": max_tokens, "min_tokens": max_tokens}
            started = time.perf_counter()
            response = await http.post(url + "/v1/chat/completions", json=body)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
            tokens += response.json()["usage"]["completion_tokens"]

    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"requests": len(latencies), "seconds": round(elapsed, 2),
            "requests_per_s": round(len(latencies) / elapsed, 3),
            "tokens_per_s": round(tokens / elapsed, 1),
            "p50_s": round(statistics.median(latencies), 3),
            "p95_s": round(latencies[min(len(latencies) - 1,
                                         int(0.95 * len(latencies)))], 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="configs/117M", help="--model of serve.py")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32],
                        help="concurrent client counts")
    parser.add_argument("--requests_per_client", type=int, default=3,
                        help="requests each client sends (at least 8 in total per level)")
    parser.add_argument("--max_tokens", type=int, default=16, help="tokens of every reply")
    parser.add_argument("--device", default="cpu", help="--device of serve.py")
    parser.add_argument("--seed", type=int, default=0, help="dialog generator seed")
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP_NUM_THREADS of the server (1: steadiest on a shared machine)")
    args = parser.parse_args(argv)
    results: dict = {"model": args.model, "max_tokens": args.max_tokens, "device": args.device,
                     "cpus": os.cpu_count(), "server_threads": args.threads}
    for name, batch in (("batched", 32), ("unbatched", 1)):
        process, url = start_server(args.model, batch, args.max_tokens, args.device,
                                    args.threads)
        try:
            asyncio.run(load(url, 1, 2, args.max_tokens, args.seed + 99))  # warm-up
            results[name] = {}
            for clients in args.clients:
                per_client = max(args.requests_per_client, -(-8 // clients))
                results[name][str(clients)] = asyncio.run(
                    load(url, clients, per_client, args.max_tokens, args.seed))
        finally:
            process.terminate()
            process.wait(timeout=60)
    results["throughput_ratio"] = {
        str(c): round(results["batched"][str(c)]["requests_per_s"]
                      / results["unbatched"][str(c)]["requests_per_s"], 2)
        for c in args.clients}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
