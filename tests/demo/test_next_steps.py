"""The commands demo.py prints at the end are the README walkthrough's, character for character."""

from __future__ import annotations

import sys

from dialogpt.demo import pipeline


def test_printed_next_steps_are_the_readme_commands(repo_root):
    sys.path.insert(0, str(repo_root / "tests"))
    from test_readme_walkthrough import walkthrough_commands

    readme = walkthrough_commands((repo_root / "README.md").read_text(encoding="utf-8"))
    demo = pipeline.Demo(pipeline.parse_demo_args([]))
    text = pipeline.next_steps(demo, {"train": {
        "checkpoint": "models/demo/train/checkpoint-step-300"}})
    printed = [line.split(":", 1)[1].strip() for line in text.splitlines()[2:]
               if line.split(":", 1)[1].strip().startswith("python ")]
    shared = [command for command in printed if command.split()[1] in
              ("interact.py", "make_refs.py", "generate.py", "batch_eval.py", "plot.py")]
    assert len(shared) == 5
    assert all(command in readme for command in shared), set(shared) - set(readme)


def test_after_demo_mmi_the_reranked_decoding_is_suggested_not_mmi_again():
    def printed(*argv, **results):
        demo = pipeline.Demo(pipeline.parse_demo_args(list(argv)))
        return pipeline.next_steps(demo, {"train": {"checkpoint": "models/demo/train/c-300"},
                                          **results})

    assert "python demo.py --mmi" in printed()
    text = printed("--mmi", train_reverse={"checkpoint": "models/demo/train-reverse/c-300"})
    assert "demo.py --mmi" not in text
    assert ("python generate.py --model models/demo/train/c-300 --mmi_model "
            "models/demo/train-reverse/c-300 --decoding sample --top_k 20 --num_candidates 8 "
            "--max_length 30 --seed 42 --input data/dummy/valid.refs.txt --output mmi.resp.txt"
            ) in text
