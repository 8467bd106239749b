"""Wall time of every command README.md shows, run as printed where it can run here.

    python benchmarks/run.py readme_times [--only ID ...] [--work DIR] [--record FILE]

The commands and their ids are in ``benchmarks/readme_commands.py`` (with what stands in for
what cannot run here: Hub ids, real dumps, GPUs, a network); the untimed preparations in
``benchmarks/readme_prep.py``. Each command runs in ``WORK/GROUP/``, a folder holding links to
this checkout's scripts and configs, so the README's relative paths work as printed. Outputs of
the command are removed first, so it does its whole work. Prints one JSON line: ``seconds``
(``{id: wall seconds}``; ``null`` for commands not measured here), ``figures`` (per id: seconds
per step and ETA of the training probes, time to ready and one request's latency of the servers,
seconds per million comments of the extraction), ``readme`` (each figure as the README words
it), ``stand_ins``, and the load average before and after. ``--record`` also writes it to a file
(``benchmarks/readme_times.json`` is the committed record).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.readme_commands import BY_ID, COMMANDS, Command  # noqa: E402
from benchmarks.readme_prep import PREPARE  # noqa: E402

OUTLOOK = re.compile(r"plan: ([\d,]+) optimizer steps, ([\d,]+) to go: (.+?) at the measured "
                     r"([\d.e+-]+) s/step")
RESETS = {
    "extract_small": ["reddit_extractor/work", "data/train.tsv", "data/valid.tsv",
                      "reddit_extractor/keys/.keys-small.done"],
    "extract_rate": ["reddit_extractor/rate/work", "reddit_extractor/rate/data",
                     "reddit_extractor/rate/keys/.keys-small.done"],
    "prepro": ["data/train.128len.db"], "prepro_reverse": ["data/train.*reverse*.db"],
    "train_117m": ["models/run/[!c]*"], "plot": ["models/run/curves.*"],
    "make_refs": ["data/test.refs.txt"], "generate": ["out.resp.txt"],
    "generate_mmi": ["mmi.resp.txt"], "convert_checkpoint": ["models/small"],
    "ray_make": ["reddit_extractor/ray"], "torchrun": ["models/ddp"],
    "distributed_launch": ["models/ddp-legacy"], "convert_tsv": ["data/train.jsonl"],
    "prepro_godel": ["data/train.512src128tgt.card.db"], "train_godel": ["models/godel"],
    "generate_godel": ["test.resp.txt"], "demo_dummy": ["models/demo", "data/dummy"],
    "demo_small": ["models/demo", "data"], "demo_grounded": ["models/demo-grounded",
                                                             "data/grounded"],
    "grounded_generate": ["test.resp.txt"],
}
LINKED = ("configs",)
EXTRACTOR_LINKED = ("Makefile", "configs", "lists", "README.md")


class Failed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def human(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


class Bench:
    def __init__(self, work: Path):
        self.work = work
        self.work.mkdir(parents=True, exist_ok=True)
        self.logs = work / "logs"
        self.logs.mkdir(exist_ok=True)
        self.meta_path = work / "meta.json"
        self.meta = json.loads(self.meta_path.read_text()) if self.meta_path.exists() else {}
        self.prepared: set[str] = set()
        self.seconds: dict[str, float | None] = {}
        self.figures: dict[str, dict] = {}
        self.notes: dict[str, str] = {}
        self.port = 8000 if port_free(8000) else free_port()
        self.env = dict(os.environ)
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env['PATH']}"
        self.env.pop("PYTHONPATH", None)

    # --- folders, preparations, plain runs
    def save_meta(self) -> None:
        self.meta_path.write_text(json.dumps(self.meta, indent=1))

    def group_dir(self, group: str) -> Path:
        folder = self.work / group
        if folder.exists():
            return folder
        folder.mkdir(parents=True)
        for script in ROOT.glob("*.py"):
            (folder / script.name).symlink_to(script)
        for name in LINKED:
            (folder / name).symlink_to(ROOT / name)
        if group == "dialog":
            extractor = folder / "reddit_extractor"
            extractor.mkdir()
            for name in EXTRACTOR_LINKED:
                (extractor / name).symlink_to(ROOT / "reddit_extractor" / name)
        return folder

    def prepare(self, name: str) -> None:
        if name not in self.prepared:
            PREPARE[name](self)
            self.prepared.add(name)

    def command_text(self, command: Command) -> str:
        text = (command.run or command.readme).replace("{port}", str(free_port()))
        if self.port != 8000:
            text = text.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
            if command.kind == "serve":
                text += f" --port {self.port}"
        return text

    def env_for(self, command: Command) -> dict:
        env = dict(self.env)
        if command.id == "demo_small":  # the demo's make runs in the checkout: point K here
            env["K"] = str(self.group_dir("dialog") / "reddit_extractor" / "keys")
        return env

    def _execute(self, text: str, group: str, log_name: str, env: dict, stdin: str = "") -> float:
        log = self.logs / f"{log_name}.log"
        start = time.perf_counter()
        with open(log, "w") as out:
            result = subprocess.run(["bash", "-c", text], cwd=self.group_dir(group), env=env,
                                    input=stdin, stdout=out, stderr=subprocess.STDOUT, text=True,
                                    check=False)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise Failed(f"`{text}` in {group}/ failed ({result.returncode}):\n{tail}")
        return seconds

    def shell(self, command_id: str) -> float:
        """Run a README command (untimed preparation, or the plain ``run`` kind)."""
        command = BY_ID[command_id]
        for need in command.needs:
            self.prepare(need)
        stdin = "hello\n/quit\n" if command.kind == "chat" else ""
        return self._execute(self.command_text(command), command.group, command_id,
                             self.env_for(command), stdin)

    def run_plain(self, argv: list[str], group: str) -> None:
        self._execute(" ".join(f"'{arg}'" for arg in argv), group, "prepare", self.env)

    # --- measurements
    def reset(self, command: Command) -> None:
        folder = self.group_dir(command.group)
        for pattern in RESETS.get(command.id, []):
            for path in folder.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()

    def measure(self, command_id: str) -> None:
        command = BY_ID[command_id]
        if command.kind == "not_measured":
            self.seconds[command_id] = None
            return
        if command.kind == "client":
            return  # measured by its server
        for need in command.needs:
            self.prepare(need)
        self.reset(command)
        if command.kind == "train_probe":
            self.train_probe(command)
        elif command.kind == "serve":
            self.serve(command)
        else:
            self.seconds[command_id] = round(self.shell(command_id), 2)
        if command_id == "extract_rate":
            comments = self.meta["rate_comments"]
            self.figures[command_id] = {"comments": comments, "s_per_million_comments": round(
                self.seconds[command_id] / comments * 1e6, 1)}

    def _popen(self, command: Command, log) -> subprocess.Popen:
        return subprocess.Popen(["bash", "-c", self.command_text(command)],
                                cwd=self.group_dir(command.group), env=self.env_for(command),
                                stdout=log, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)

    def _stop(self, process: subprocess.Popen, sig=signal.SIGTERM) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def train_probe(self, command: Command, timeout: float = 600) -> None:
        """Run until the trainer prints the plan at its measured speed, then kill it (no
        checkpoint is written: the output folder is a scratch one)."""
        log_path = self.logs / f"{command.id}.log"
        start = time.perf_counter()
        with open(log_path, "w") as log:
            process = self._popen(command, log)
            match = None
            while match is None and process.poll() is None:
                time.sleep(0.5)
                match = OUTLOOK.search(log_path.read_text(errors="replace"))
                if time.perf_counter() - start > timeout:
                    break
            self._stop(process, signal.SIGKILL)
        wall = time.perf_counter() - start
        if match is None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise Failed(f"{command.id}: no measured outlook after {wall:.0f} s:\n{tail}")
        steps, printed = int(match.group(1).replace(",", "")), float(match.group(4))
        steady = self._steady_seconds_per_step(command)
        per_step = steady or printed
        self.seconds[command.id] = round(per_step, 3)
        self.figures[command.id] = {"s_per_step": round(per_step, 3), "planned_steps": steps,
                                    "eta_s": round(steps * per_step),
                                    "printed_s_per_step": printed, "eta_as_printed":
                                    match.group(3), "wall_to_outlook_s": round(wall, 1)}

    def _steady_seconds_per_step(self, command: Command) -> float | None:
        """Seconds per step after the first (which allocates the optimizer state), from the
        run's ``train_log.jsonl``; None with fewer than 3 steps logged."""
        output_dir = re.search(r"--output_dir (\S+)", self.command_text(command)).group(1)
        log = self.group_dir(command.group) / output_dir / "train_log.jsonl"
        rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        if len(rows) < 3:
            return None
        return (rows[-1]["wall_time"] - rows[0]["wall_time"]) / (len(rows) - 1)

    def serve(self, command: Command, timeout: float = 300) -> None:
        log_path = self.logs / f"{command.id}.log"
        with open(log_path, "w") as log:
            start = time.perf_counter()
            process = self._popen(command, log)
            try:
                ready = self._wait_ready(process, start, timeout, log_path)
                request = self._chat_request()
                figures = {"ready_s": round(ready, 2), "request_s": round(request, 2)}
                for client in (c for c in COMMANDS if c.server == command.id and
                               c.id in self.selected):
                    self.seconds[client.id] = round(self.shell(client.id), 2)
            finally:
                self._stop(process)
        self.seconds[command.id] = figures["ready_s"]
        self.figures[command.id] = figures

    def _wait_ready(self, process, start: float, timeout: float, log_path: Path) -> float:
        url = f"http://127.0.0.1:{self.port}/health"
        while time.perf_counter() - start < timeout:
            if process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.2)
        raise Failed(f"server not ready:\n{log_path.read_text(errors='replace')[-3000:]}")

    def _chat_request(self) -> float:
        body = json.dumps({"messages": [{"role": "user", "content": "Does money buy happiness?"}],
                           "temperature": 0}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/v1/chat/completions",
                                         data=body, headers={"Content-Type": "application/json"})
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=300) as response:
            response.read()
        return time.perf_counter() - start


def readme_words(bench: Bench) -> dict[str, str]:
    """Each figure as the README puts it."""
    words = {}
    for command_id, seconds in bench.seconds.items():
        figures = bench.figures.get(command_id, {})
        if seconds is None:
            words[command_id] = "not measured here"
        elif "s_per_step" in figures:
            words[command_id] = (f"{figures['s_per_step']:.3g} s per step here; the planned "
                                 f"{figures['planned_steps']:,} steps would take ~"
                                 f"{human(figures['eta_s'])}")
        elif "ready_s" in figures:
            words[command_id] = (f"ready in {human(figures['ready_s'])}, one reply "
                                 f"{human(figures['request_s'])}")
        elif "s_per_million_comments" in figures:
            words[command_id] = f"about {figures['s_per_million_comments']:.0f} s per million comments"
        else:
            words[command_id] = human(seconds)
    return words


def stand_ins(bench: Bench, ids) -> dict[str, str]:
    out = {}
    for command_id in ids:
        text = BY_ID[command_id].stand_in
        if text:
            try:
                text = text.format(**bench.meta)
            except KeyError:
                pass
            out[command_id] = text
    if bench.port != 8000:
        out["port"] = f"port 8000 was busy: the servers and clients used {bench.port}"
    return out


def table(record: dict) -> str:
    """A markdown table of a record (for benchmarks/RESULTS.md): id, figure, stand-in."""
    rows = ["| id | README command | time here | stand-in |", "|---|---|---|---|"]
    for command in COMMANDS:
        if command.id in record["readme"]:
            shown = command.readme if len(command.readme) <= 60 else command.readme[:57] + "..."
            shown = shown.replace("|", "\\|")
            rows.append(f"| {command.id} | `{shown}` | {record['readme'][command.id]} | "
                        f"{record['stand_ins'].get(command.id, 'as printed')} |")
    return "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py readme_times", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="ID", choices=list(BY_ID),
                        help=f"measure these ids only (default: all): {', '.join(BY_ID)}")
    parser.add_argument("--work", type=Path,
                        default=Path(tempfile.gettempdir()) / "dialogpt-readme-times",
                        help="work directory, kept between runs (synthetic dumps and "
                             "random-weight models are made once)")
    parser.add_argument("--threads", type=int, default=0,
                        help="OMP_NUM_THREADS for the commands (0: leave it unset, each command's "
                             "own default; 1 is steadier on a machine shared with other work, "
                             "where two threads wait on each other)")
    parser.add_argument("--fresh", action="store_true", help="empty the work directory first")
    parser.add_argument("--record", type=Path,
                        help="also write the result, indented, to this JSON file")
    parser.add_argument("--table", type=Path, metavar="RECORD",
                        help="run nothing: print RECORD (a --record file) as a markdown table")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return 0
    if args.fresh and args.work.exists():
        shutil.rmtree(args.work)
    bench = Bench(args.work.resolve())
    if args.threads:
        bench.env["OMP_NUM_THREADS"] = str(args.threads)
    ids = args.only or [command.id for command in COMMANDS]
    clients = [c.server for c in COMMANDS if c.id in ids and c.server]
    bench.selected = set(ids) | set(clients)
    load_before = os.getloadavg()
    start = time.perf_counter()
    failures = {}
    for command in COMMANDS:
        if command.id in bench.selected:
            try:
                bench.measure(command.id)
            except Failed as exc:
                failures[command.id] = str(exc)[-1500:]
                print(f"{command.id}: {exc}", file=sys.stderr)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    result = {"benchmark": "readme_times",
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "commit": commit, "cpus": os.cpu_count(),
              "omp_num_threads": bench.env.get("OMP_NUM_THREADS"),
              "load_before": [round(x, 2) for x in load_before],
              "load_after": [round(x, 2) for x in os.getloadavg()],
              "total_s": round(time.perf_counter() - start, 1),
              "seconds": bench.seconds, "figures": bench.figures, "readme": readme_words(bench),
              "stand_ins": stand_ins(bench, ids), "failures": failures,
              "work": str(bench.work)}
    line = json.dumps(result)
    print(line)
    if args.record:
        args.record.write_text(json.dumps(result, indent=1) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
