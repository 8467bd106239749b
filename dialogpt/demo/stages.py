"""The demo's stage runner: a stage counts as done only for the same inputs and options.

Each finished stage writes ``STAGE_DIR/NAME.json`` (atomically, last): ``{"options": {...},
"result": {...}}``, the options being what the stage's output depends on (``--data``, ``--model``,
steps, flags passed to training...). On the next run, a stage is redone when

- ``--force`` is given, or its marker is missing (never finished), or
- its recorded options differ from this run's (the log names what changed), or
- a stage before it is redone (its inputs are new).

``before_redo(name)`` runs before a stage is redone for any of these reasons, to clear what would
otherwise be reused (a training directory that ``--resume auto`` would continue, say); not before
a stage that was interrupted with the same inputs, which resumes. A stage never finished reads
"not done yet" in the log, also when a stage before it runs (on a first run, all of them).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

logger = logging.getLogger("dialogpt.demo")

Stage = Callable[[Any, dict], dict]
NOT_DONE = "not done yet"


def marker_path(stage_dir: Path, name: str) -> Path:
    return Path(stage_dir) / f"{name}.json"


def read_marker(stage_dir: Path, name: str) -> dict | None:
    """The marker of ``name``, or None when it is missing or unreadable (then it is redone)."""
    try:
        marker = json.loads(marker_path(stage_dir, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def describe_change(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str:
    """``model: 'tiny' -> 'small'; steps: 300 -> 50`` (what differs between two option sets)."""
    if old is None:
        return "recorded without its options"
    keys = sorted(set(old) | set(new))
    parts = [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in keys
             if old.get(key) != new.get(key)]
    return "; ".join(parts) or "options changed"


def plan_stages(stage_dir: Path, names: Sequence[str], options: Mapping[str, Mapping[str, Any]],
                force: bool) -> list[tuple[str, str | None]]:
    """``[(name, why it runs)]`` in order; ``why`` is None for a stage kept as it is."""
    plan: list[tuple[str, str | None]] = []
    redone = None
    for name in names:
        marker = read_marker(stage_dir, name)
        wanted = _jsonable(options.get(name, {}))
        if force:
            why = "--force"
        elif marker is None:
            why = NOT_DONE
        elif redone is not None:
            why = f"its input is new: stage {redone} ran again"
        elif marker.get("options") != wanted:
            why = f"its options changed ({describe_change(marker.get('options'), wanted)})"
        else:
            why = None
        if why is not None and redone is None:
            redone = name
        plan.append((name, why))
    return plan


def run_stages(stage_dir: Path, stages: Sequence[tuple[str, Stage]], demo,
               options: Mapping[str, Mapping[str, Any]], force: bool,
               before_redo: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Run the stages that :func:`plan_stages` says must run; returns every stage's result."""
    from dialogpt.fileio import atomic_write

    functions = dict(stages)
    results: dict[str, dict] = {}
    earlier_ran = False
    for name, why in plan_stages(stage_dir, [name for name, _ in stages], options, force):
        if why is None:
            results[name] = read_marker(stage_dir, name)["result"]
            logger.info("stage %-9s done before with the same options (%.1f s), skipping", name,
                        results[name].get("seconds", 0.0))
            continue
        if before_redo is not None and (why != NOT_DONE or earlier_ran):
            before_redo(name)  # not for a stage interrupted with the same inputs: it resumes
        earlier_ran = True
        logger.info("stage %-9s ... (%s)", name, why)
        marker_path(stage_dir, name).unlink(missing_ok=True)  # half-redone is not done
        start = time.perf_counter()
        try:
            info = functions[name](demo, results) or {}
        except KeyboardInterrupt:
            logger.error("interrupted during stage %s; run the same command again to resume from "
                         "it (finished stages are kept)", name)
            raise
        info["seconds"] = round(time.perf_counter() - start, 2)
        results[name] = info
        with atomic_write(marker_path(stage_dir, name)) as handle:
            json.dump({"options": _jsonable(options.get(name, {})), "result": info}, handle,
                      indent=1)
        logger.info("stage %-9s finished in %.1f s", name, info["seconds"])
    return results


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, paths strings), so recorded
    and current options compare equal when they are."""
    return json.loads(json.dumps(value, default=str))
