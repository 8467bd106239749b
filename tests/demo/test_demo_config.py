"""demo.py's config: its checks, and the TrainConfig it builds from a stage's settings plus the
flags demo.py passes on to training."""

from __future__ import annotations

import json

import pytest

from dialogpt.cli import UserError
from dialogpt.demo import mmi, pipeline
from dialogpt.demo.training import train_config, train_overrides

SETTINGS = {"model_name_or_path": "configs/tiny", "train_input_file": "train.db",
            "eval_input_file": "valid.tsv", "output_dir": "out", "learning_rate": 1e-5,
            "warmup_steps": 50}


def test_unknown_flags_are_kept_for_training_and_bad_values_refused():
    config = pipeline.parse_demo_args(["--num_heldout", "7", "--learning_rate", "3e-4"])
    assert config.num_heldout == 7 and config.train_flags == ["--learning_rate", "3e-4"]
    assert config.num_optim_steps == 300
    assert pipeline.parse_demo_args(["--task", "grounded"]).num_optim_steps == 500
    for argv, message in ((["--num_heldout", "0"], "--num_heldout"),
                          (["--valid_fraction", "1"], "--valid_fraction"),
                          (["--task", "finetune", "--shots", "0"], "--shots")):
        with pytest.raises(UserError, match=message):
            pipeline.parse_demo_args(argv)


def test_only_the_given_training_flags_override_the_stage_settings():
    assert train_overrides([]) == {}
    assert train_overrides(["--learning_rate", "3e-4", "--pbar", "false"]) == {
        "learning_rate": 3e-4, "pbar": False}
    with pytest.raises(UserError, match="--no_such_flag"):
        train_overrides(["--no_such_flag", "1"])
    config = train_config(SETTINGS, ["--learning_rate", "3e-4"])
    assert (config.learning_rate, config.warmup_steps, config.output_dir) == (3e-4, 50, "out")
    assert config.valid_step == 10_000  # neither set: LSP_train.py's default


def test_a_config_file_among_the_flags_sits_beneath_the_settings(tmp_path):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"_note": "x", "warmup_steps": 7, "valid_step": 5}))
    config = train_config(SETTINGS, ["--config", str(recipe)])
    assert (config.warmup_steps, config.valid_step) == (50, 5)  # the stage's 50 wins
    config = train_config(SETTINGS, ["--config", str(recipe), "--warmup_steps", "9"])
    assert config.warmup_steps == 9


def test_the_mmi_marker_records_the_equivalent_generate_flags():
    assert mmi.sampling_flags() == ["--decoding", "sample", "--top_k", "20", "--num_candidates",
                                    "8", "--max_length", "30", "--seed", "42", "--batch_size",
                                    "16"]
