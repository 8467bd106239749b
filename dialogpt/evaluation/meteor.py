"""METEOR 1.5 with the official jar, run the way the DSTC-7 scorer runs it.

No Python re-implementation matches METEOR (its paraphrase tables and aligner are the metric),
so the real ``meteor-1.5.jar`` is used; the ``pycocoevalcap`` wheel ships it together with
``data/paraphrase-en.gz``. One system is scored like the official scorer::

    java -Xmx1g -jar meteor-1.5.jar hyp.txt refs_merged.txt -r 6 -l en -norm

(``refs_merged.txt`` holds the references of segment 1, then those of segment 2, ...). Many
systems share one JVM through METEOR's ``-stdio`` protocol: loading the paraphrase table is most
of a run, and the protocol's ``EVAL`` aggregates segment statistics exactly as file mode does.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

JAR_NAME = "meteor-1.5.jar"
PARAPHRASE_TABLE = Path("data") / "paraphrase-en.gz"
JAR_ENV = "DIALOGPT_METEOR_JAR"
JAVA_HEAP = "-Xmx1g"
LANGUAGE_OPTIONS = ("-l", "en", "-norm")
_STDIO_SEPARATOR = "|||"


class MeteorUnavailable(Exception):
    """Java or the jar is missing; the message says how to fix it."""


class MeteorError(RuntimeError):
    """The jar ran but did not report a score."""


@dataclass(frozen=True)
class MeteorSetup:
    java: str
    jar: Path


def _bundled_jar() -> Path | None:
    spec = importlib.util.find_spec("pycocoevalcap")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "meteor" / JAR_NAME
        if candidate.is_file():
            return candidate
    return None


def locate_meteor(jar: str | os.PathLike | None = None) -> MeteorSetup:
    """Find ``java`` and the jar (``jar``, else ``$DIALOGPT_METEOR_JAR``, else pycocoevalcap's)."""
    java = shutil.which("java")
    if java is None:
        raise MeteorUnavailable("java was not found on PATH; install a Java runtime (8 or newer, "
                                "e.g. apt-get install default-jre-headless) or pass --no_meteor")
    chosen = jar or os.environ.get(JAR_ENV)
    jar_path = Path(chosen) if chosen else _bundled_jar()
    if jar_path is None:
        raise MeteorUnavailable(f"{JAR_NAME} was not found; pip install pycocoevalcap (it ships "
                                f"the jar and {PARAPHRASE_TABLE}) or pass --meteor_jar")
    if not jar_path.is_file():
        raise MeteorUnavailable(f"{jar_path} does not exist; pass the path of {JAR_NAME}")
    if not (jar_path.parent / PARAPHRASE_TABLE).is_file():
        raise MeteorUnavailable(f"{jar_path.parent / PARAPHRASE_TABLE} is missing; METEOR needs "
                                "its English paraphrase table next to the jar (reinstall "
                                "pycocoevalcap)")
    return MeteorSetup(java, jar_path)


def _check_aligned(hypotheses: Sequence[str], reference_streams: Sequence[Sequence[str]]) -> None:
    if not reference_streams or any(len(s) != len(hypotheses) for s in reference_streams):
        raise ValueError("every reference stream needs one line per hypothesis")


def _final_score(output: str) -> float | None:
    for line in output.splitlines():
        if "Final score:" in line:
            return float(line.split()[-1])
    return None


def meteor_file_mode(setup: MeteorSetup, hypotheses: Sequence[str],
                     reference_streams: Sequence[Sequence[str]]) -> float:
    """System METEOR from one jar run on files, exactly the official command."""
    _check_aligned(hypotheses, reference_streams)
    with tempfile.TemporaryDirectory(prefix="meteor-") as tmp:
        hyp_path, refs_path = Path(tmp) / "hyp.txt", Path(tmp) / "refs_merged.txt"
        hyp_path.write_text("".join(line + "\n" for line in hypotheses), encoding="utf-8")
        with refs_path.open("w", encoding="utf-8") as refs:
            for j in range(len(hypotheses)):
                refs.writelines(stream[j] + "\n" for stream in reference_streams)
        command = [setup.java, JAVA_HEAP, "-jar", str(setup.jar), str(hyp_path), str(refs_path),
                   "-r", str(len(reference_streams)), *LANGUAGE_OPTIONS]
        process = subprocess.run(command, capture_output=True, text=True, encoding="utf-8",
                                 errors="replace")
    score = _final_score(process.stdout)
    if score is None:
        raise MeteorError(f"{JAR_NAME} gave no final score (exit {process.returncode}): "
                          f"{(process.stderr or process.stdout)[-2000:]}")
    return score


def stdio_safe(hypotheses: Sequence[str], reference_streams: Sequence[Sequence[str]]) -> bool:
    """Whether the texts can travel through ``-stdio`` (which splits lines on ``|||``)."""
    return not any(_STDIO_SEPARATOR in text
                   for texts in (hypotheses, *reference_streams) for text in texts)


class MeteorSession:
    """One JVM scoring many systems through METEOR's ``-stdio`` protocol.

    ``SCORE ||| ref1 ||| ... ||| hyp`` answers one line of segment statistics; ``EVAL ||| stats1
    ||| stats2 ...`` answers one score per segment and then the aggregated system score.
    """

    def __init__(self, setup: MeteorSetup):
        self._stderr = tempfile.TemporaryFile()
        command = [setup.java, JAVA_HEAP, "-Dfile.encoding=UTF-8", "-jar", str(setup.jar),
                   "-", "-", "-stdio", *LANGUAGE_OPTIONS]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self._stderr, text=True, encoding="utf-8",
                                         bufsize=1)

    def __enter__(self) -> "MeteorSession":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._stderr.close()

    def _read_line(self) -> str:
        line = self._process.stdout.readline()
        if not line:
            self._stderr.seek(0)
            detail = self._stderr.read().decode("utf-8", "replace")[-2000:]
            raise MeteorError(f"{JAR_NAME} -stdio stopped answering: {detail}")
        return line.strip()

    def _feed(self, lines: Sequence[str], errors: list[BaseException]) -> None:
        try:
            for line in lines:
                self._process.stdin.write(line + "\n")
            self._process.stdin.flush()
        except OSError as exc:  # the JVM died; the reader reports it
            errors.append(exc)

    def score(self, hypotheses: Sequence[str], reference_streams: Sequence[Sequence[str]]) -> float:
        """System METEOR of one system; texts must be :func:`stdio_safe`."""
        _check_aligned(hypotheses, reference_streams)
        if not stdio_safe(hypotheses, reference_streams):
            raise ValueError(f"texts containing {_STDIO_SEPARATOR!r} need meteor_file_mode")
        requests = [" ||| ".join(["SCORE", *(stream[j] for stream in reference_streams), hyp])
                    for j, hyp in enumerate(hypotheses)]
        errors: list[BaseException] = []
        # A writer thread keeps both pipes moving: the JVM answers while it is still being fed.
        writer = threading.Thread(target=self._feed, args=(requests, errors), daemon=True)
        writer.start()
        stats = [self._read_line() for _ in requests]
        writer.join()
        if errors:
            raise MeteorError(f"{JAR_NAME} -stdio closed its input: {errors[0]}")
        self._process.stdin.write(" ||| ".join(["EVAL", *stats]) + "\n")
        self._process.stdin.flush()
        for _ in stats:
            self._read_line()
        return float(self._read_line())


def meteor_many(setup: MeteorSetup, systems: Sequence[tuple[Sequence[str], Sequence[Sequence[str]]]]
                ) -> list[float]:
    """System METEOR of several ``(hypotheses, reference_streams)`` in one JVM where possible."""
    scores: list[float | None] = [None] * len(systems)
    if any(stdio_safe(hypotheses, streams) for hypotheses, streams in systems):
        with MeteorSession(setup) as session:
            for i, (hypotheses, streams) in enumerate(systems):
                if stdio_safe(hypotheses, streams):
                    scores[i] = session.score(hypotheses, streams)
    for i, (hypotheses, streams) in enumerate(systems):
        if scores[i] is None:
            scores[i] = meteor_file_mode(setup, hypotheses, streams)
    return scores


def meteor_scores(setup: MeteorSetup | None, systems) -> list[float | None]:
    """METEOR of each prepared system (``hypotheses``, ``reference_streams``), one jar run for
    all; ``None`` for each when ``setup`` is None or the jar fails (with a warning)."""
    import sys

    if setup is None or not systems:
        return [None] * len(systems)
    pairs = [(s.hypotheses, s.reference_streams) for s in systems]
    try:
        if len(pairs) == 1:
            return [meteor_file_mode(setup, *pairs[0])]
        return meteor_many(setup, pairs)
    except MeteorError as exc:
        print(f"warning: METEOR failed: {exc}", file=sys.stderr)
        return [None] * len(systems)
