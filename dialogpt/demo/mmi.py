"""``python demo.py --mmi``: the MMI recipe of the README as four more demo stages.

1. ``prepro_reverse``  ``prepro.py --reverse`` on the same ``train.tsv`` (turn order reversed)
2. ``train_reverse``   the backward model: the demo's training flags on the reversed DB, into
   ``OUTPUT_DIR/train-reverse`` (its evaluation reverses ``valid.tsv`` the same way)
3. ``generate_mmi``    ``generate.py --mmi_model``: ``--num_candidates`` sampled candidates per
   held-out context, the one the backward model scores highest kept
4. ``evaluate_mmi``    ``batch_eval.py`` on those responses; the report shows both rows
"""

from __future__ import annotations

MMI_STAGES = ("prepro_reverse", "train_reverse", "generate_mmi", "evaluate_mmi")
MMI_SAMPLING = {"decoding": "sample", "top_k": 20, "num_candidates": 8, "max_length": 30,
                "seed": 42, "batch_size": 16}
"""Sampling for the MMI candidates (greedy would give one candidate): ``DecodingOptions`` fields
and the batch size."""


def sampling_flags() -> list[str]:
    """``MMI_SAMPLING`` as generate.py's flags (what the stage marker records)."""
    return [item for key, value in MMI_SAMPLING.items() for item in (f"--{key}", str(value))]


def stage_prepro_reverse(demo, results) -> dict:
    from dialogpt.demo.tool_calls import build_db

    db = build_db(corpus=str(demo.train_tsv), max_seq_len=demo.config.max_seq_len, reverse=True,
                  force=True)
    return {"db": str(db)}


def stage_train_reverse(demo, results) -> dict:
    from dialogpt.demo.training import train_model

    out = demo.out / "train-reverse"
    return train_model(demo, results["prepro_reverse"]["db"], out)


def stage_generate_mmi(demo, results) -> dict:
    from dialogpt.demo.tool_calls import decode_file

    output = demo.out / "heldout.mmi.resp.txt"
    decode_file(results["train"]["checkpoint"], demo.heldout_tsv, output,
                mmi_model=results["train_reverse"]["checkpoint"], **MMI_SAMPLING)
    return {"responses": str(output)}


def stage_evaluate_mmi(demo, results) -> dict:
    from dialogpt.demo.tool_calls import HELDOUT_SCORING, score_file

    return {"metrics": score_file(demo.heldout_refs, results["generate_mmi"]["responses"],
                                  **HELDOUT_SCORING)}


def mmi_stages() -> list[tuple[str, object]]:
    return [(name, globals()[f"stage_{name}"]) for name in MMI_STAGES]


def mmi_options(demo) -> dict[str, dict]:
    """What the MMI stages' outputs depend on (see ``stage_options``)."""
    return {"prepro_reverse": {"max_seq_len": demo.config.max_seq_len},
            "train_reverse": {}, "generate_mmi": {"sampling": sampling_flags()},
            "evaluate_mmi": {}}
