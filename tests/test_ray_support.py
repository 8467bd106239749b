import sys

import pytest

from dialogpt.cli import UserError
from dialogpt.ray_support import import_ray, rows_by_node, task_error


def test_missing_ray_names_the_flag_and_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(UserError) as caught:
        import_ray("EXECUTOR=ray", " (or not)")
    assert str(caught.value) == 'EXECUTOR=ray needs Ray: pip install -e ".[cluster]" (or not)'


def test_a_task_error_is_its_cause_and_first_line():
    class Wrapped(Exception):
        cause = ValueError("bad month\ntraceback lines")

    assert task_error(Wrapped("ray's wrapper text")) == "ValueError: bad month"
    assert task_error(OSError("")) == "OSError: "


def test_rows_grouped_by_node_in_first_seen_order():
    rows = [{"node_id": "b", "n": 1}, {"node_id": "a", "n": 2}, {"node_id": "b", "n": 3}]
    assert list(rows_by_node(rows).items()) == [("b", [rows[0], rows[2]]), ("a", [rows[1]])]
