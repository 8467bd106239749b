"""METEOR works after the README's first command: its jar comes with the runtime dependencies."""

from __future__ import annotations

import shutil

import pytest

from dialogpt.evaluation import meteor


def test_the_plain_install_brings_the_meteor_jar(repo_root):
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = [spec.split(">")[0].split("=")[0].strip() for spec in
               project["project"]["dependencies"]]
    assert "pycocoevalcap" in runtime  # `pip install -e .` (no extra) installs the jar


@pytest.mark.skipif(shutil.which("java") is None, reason="needs Java")
def test_with_java_meteor_is_located_without_flags(monkeypatch):
    monkeypatch.delenv(meteor.JAR_ENV, raising=False)
    setup = meteor.locate_meteor()
    assert setup.jar.name == meteor.JAR_NAME and setup.jar.is_file()


def test_without_java_the_reason_is_given(monkeypatch):
    monkeypatch.setattr(meteor.shutil, "which", lambda name: None)
    with pytest.raises(meteor.MeteorUnavailable, match="java was not found.*install a Java"):
        meteor.locate_meteor()
