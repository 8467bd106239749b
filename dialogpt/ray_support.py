"""What the Ray executors (the extractor's months, prepro's byte ranges) share: importing Ray with
the install hint, joining or starting it, a failed task's error in one line, rows by node."""

from __future__ import annotations


def import_ray(what: str, hint: str = ""):
    """The ``ray`` module, or a ``UserError`` saying ``what`` needs it and how to install it."""
    from dialogpt.extras import require

    return require("ray", what, hint)


def connect(ray, address: str | None) -> bool:
    """Join ``address`` or start a local Ray; False when this process is already connected (then
    the caller must not shut it down)."""
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False)
    return True


def task_error(error: Exception) -> str:
    """A failed task's own error (out of Ray's wrapper): its type and first line."""
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"


def rows_by_node(rows: list[dict]) -> dict[str, list[dict]]:
    """Task result rows grouped by their ``node_id``, in first-seen order."""
    nodes: dict[str, list[dict]] = {}
    for row in rows:
        nodes.setdefault(row["node_id"], []).append(row)
    return nodes
