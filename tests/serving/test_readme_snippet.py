"""The README's OpenAI snippet, as printed, against a served trained-checkpoint folder.

A checkpoint folder is named ``checkpoint-step-N``, not ``117M``: the snippet must not hard-code
the model id, and the id it reads from ``/v1/models`` must be one the server accepts.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from serving_helpers import live_server

pytestmark = pytest.mark.slow  # a server, and a fresh interpreter importing openai

README_URL = "http://127.0.0.1:8000/v1"


def readme_snippet(repo_root) -> str:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r'^python -c "(from openai import OpenAI;.*?)"  # ', readme, re.M)
    assert len(commands) == 1, "README.md should print one OpenAI client snippet"
    return commands[0]


def test_the_snippet_works_against_a_checkpoint_folder(repo_root, tmp_path, tiny_gpt2_dir):
    pytest.importorskip("openai")
    code = readme_snippet(repo_root)
    assert README_URL in code and "'117M'" not in code
    checkpoint = tmp_path / "run" / "checkpoint-step-300"  # as LSP_train.py names its folders
    checkpoint.parent.mkdir()
    checkpoint.symlink_to(tiny_gpt2_dir, target_is_directory=True)
    with live_server(["--model", str(checkpoint), "--max_length", "8"]) as live:
        result = subprocess.run([sys.executable, "-c", code.replace(README_URL, live.api)],
                                capture_output=True, text=True, timeout=120, check=False)
        from openai import OpenAI

        client = OpenAI(base_url=live.api, api_key="none", max_retries=0)
        assert [model.id for model in client.models.list().data] == ["checkpoint-step-300"]
        expected = client.chat.completions.create(
            model="checkpoint-step-300", messages=[{"role": "user", "content": "Hi!"}])
    assert result.returncode == 0, result.stderr
    # the server's default decoding is greedy: the snippet prints the same reply
    assert result.stdout == expected.choices[0].message.content + "\n"
