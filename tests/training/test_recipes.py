"""configs/recipes/: one LSP_train.py --config file per task, model size and mode; each parses and
validates against TrainConfig, cites a source for every value, holds what the GODEL and DialoGPT
repositories give, and trains when pointed at a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_models import save_tiny_gpt2, save_tiny_t5
from training_helpers import read_csv_rows

from dialogpt.training.args import parse_args
from dialogpt.training.train import main

RECIPES = Path(__file__).resolve().parents[2] / "configs" / "recipes"
TASKS = ("wow", "woi", "coqa", "multiwoz", "dstc9")
EXPECTED = sorted([f"godel-{size}-{task}{mode}.json" for size in ("base", "large")
                   for task in TASKS for mode in ("", "-lora")]
                  + ["dialogpt-medium-chat.json", "dialogpt-medium-chat-lora.json"])
PATHS = ["--train_input_file", "data/train.db", "--eval_input_file", "data/valid.jsonl",
         "--output_dir", "models/out"]


def _load(name: str) -> dict:
    return json.loads((RECIPES / name).read_text(encoding="utf-8"))


def test_one_recipe_per_task_size_and_mode():
    assert sorted(path.name for path in RECIPES.glob("*.json")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_every_recipe_validates_and_cites_a_source_for_each_value(name):
    recipe = _load(name)
    config = parse_args(["--config", str(RECIPES / name), *PATHS])
    flags = {key: value for key, value in recipe.items() if not key.startswith("_")}
    for key, value in flags.items():
        assert getattr(config, key) == value, key
    cited = [key for source in recipe["_sources"].values() for key in source["keys"]]
    assert sorted(cited) == sorted(flags), "each value cited by exactly one source"
    assert (config.lora_r > 0) == name.endswith("-lora.json")
    assert {"_recipe", "_convert", "_prepro", "_generate"} <= set(recipe)


@pytest.mark.parametrize("task", TASKS)
def test_godel_recipes_hold_godels_published_values(task):
    """From microsoft/GODEL's README (fine-tuning command; DSTC9 tutorial) and train.py defaults,
    copied by hand."""
    epochs, target = (50, 128) if task == "dstc9" else (10, 256)
    for size in ("base", "large"):
        full, lora = _load(f"godel-{size}-{task}.json"), _load(f"godel-{size}-{task}-lora.json")
        for recipe in (full, lora):
            assert recipe["model_name_or_path"] == f"microsoft/GODEL-v1_1-{size}-seq2seq"
            assert (recipe["train_batch_size"], recipe["gradient_accumulation_steps"],
                    recipe["eval_batch_size"], recipe["num_train_epochs"]) == (16, 1, 16, epochs)
            assert (recipe["lr_schedule"], recipe["warmup_proportion"], recipe["weight_decay"],
                    recipe["max_grad_norm"], recipe["precision"]) == ("BERT", 0.0, 0.0, 0.0,
                                                                      "fp32")
            assert f"--max_source_len 512 --max_target_len {target}" in recipe["_prepro"]
            assert recipe["_convert"].startswith(f"python convert_task.py {task} --input ")
        assert full["learning_rate"] == 5e-5 and "learning_rate" in full["_sources"]["GODEL"]["keys"]
        assert "learning_rate" in lora["_sources"]["ours"]["keys"]


def test_a_command_line_flag_overrides_the_recipe():
    config = parse_args(["--config", str(RECIPES / "godel-base-wow-lora.json"), *PATHS,
                         "--lora_r", "16", "--learning_rate", "1e-4"])
    assert (config.lora_r, config.learning_rate, config.lora_alpha) == (16, 1e-4, 16.0)


def test_epochs_become_optimizer_steps_rounded_up():
    from dialogpt.training.data import BatchPlan, with_epochs

    plan = BatchPlan(world_size=1, micro_batch=2, accumulation=2, max_seq_length=128,
                     steps_per_epoch=15)
    config = parse_args(["--model_name_or_path", "m", *PATHS, "--num_train_epochs", "0.5"])
    assert with_epochs(config, plan).num_optim_steps == 8          # 7.5 steps: the epoch ends
    assert with_epochs(parse_args(["--model_name_or_path", "m", *PATHS, "--num_train_epochs",
                                   "10"]), plan).num_optim_steps == 150


@pytest.mark.slow
@pytest.mark.parametrize("recipe, kind", [("godel-base-wow-lora.json", "seq2seq"),
                                          ("dialogpt-medium-chat-lora.json", "causal")])
def test_a_lora_recipe_trains_a_tiny_model_for_its_epochs(recipe, kind, request, tmp_path):
    """The recipe with the model, batch and epochs overridden: 8 examples in micro-batches of 2,
    2 per step, so 2 steps per epoch, and 1.5 epochs = ceil(3.0) = 3 steps."""
    if kind == "seq2seq":
        data = request.getfixturevalue("grounded")
        model = save_tiny_t5(tmp_path / "t5", request.getfixturevalue("t5_tokenizer_dir"))
    else:
        data = request.getfixturevalue("corpus")
        model = save_tiny_gpt2(tmp_path / "gpt2", seed=1, n_positions=128)
    out = tmp_path / "out"
    assert main(["--config", str(RECIPES / recipe), "--model_name_or_path", str(model),
                 "--train_input_file", str(data["tiny8"]), "--eval_input_file", str(data["eval"]),
                 "--output_dir", str(out), "--train_batch_size", "4",
                 "--gradient_accumulation_steps", "2", "--num_train_epochs", "1.5",
                 "--precision", "fp32", "--pbar", "false"]) == 0
    assert [row["global_step"] for row in read_csv_rows(out / "train_log.txt")] == ["1", "2", "3"]
    adapter = json.loads((out / "checkpoint-step-3" / "adapter" / "adapter_config.json")
                         .read_text())
    assert (adapter["r"], sorted(adapter["target_modules"])) == \
        (8, sorted(_load(recipe)["lora_target_modules"]))
