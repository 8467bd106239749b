"""Flags: original names and defaults (against a capture of the old parser), --config, launcher
spellings, validation before training."""

import dataclasses
import json
import re

import pytest

from dialogpt.cli import UserError
from dialogpt.training.args import TrainConfig, build_parser, parse_args
from dialogpt.training.precision import resolve_precision

REQUIRED = ["--model_name_or_path", "configs/tiny", "--train_input_file", "db",
            "--eval_input_file", "valid.tsv", "--output_dir", "out"]


def test_original_defaults():
    args = parse_args(REQUIRED)
    assert (args.seed, args.max_seq_length, args.train_batch_size,
            args.gradient_accumulation_steps, args.eval_batch_size) == (42, 128, 4, 2, 4)
    assert (args.learning_rate, args.num_optim_steps, args.valid_step) == (1e-5, 1_000_000, 10_000)
    assert (args.warmup_proportion, args.warmup_steps, args.lr_schedule) == (0.1, 16_000, "noam")
    assert args.normalize_data and args.no_token_id and args.pbar
    assert (args.loss_scale, args.continue_from, args.local_rank) == (0, 0, -1)


@pytest.mark.parametrize("spelling", [["--local-rank=0"], ["--local_rank", "0"],
                                      ["--local-rank", "0"]])
def test_torch_distributed_launch_local_rank_spellings_parse(spelling):
    assert parse_args(REQUIRED + spelling).local_rank == 0


def test_bool_flags_take_values_or_stand_alone():
    args = parse_args(REQUIRED + ["--pbar", "false", "--eval_at_start", "--fp16", "true"])
    assert (args.pbar, args.eval_at_start, args.fp16) == (False, True, True)


def test_config_json_supplies_defaults_and_the_command_line_wins(tmp_path):
    config = tmp_path / "train.json"
    config.write_text(json.dumps({"train_batch_size": 16, "learning_rate": 3e-4,
                                  "lr_schedule": "BERT", "pbar": "false"}))
    args = parse_args(REQUIRED + ["--config", str(config), "--learning_rate", "1e-4"])
    assert (args.train_batch_size, args.learning_rate, args.lr_schedule, args.pbar) == \
        (16, 1e-4, "BERT", False)


def test_config_json_errors_name_the_file_and_the_key(tmp_path):
    config = tmp_path / "train.json"
    config.write_text(json.dumps({"train_batch_sise": 16}))
    with pytest.raises(UserError, match=r"train\.json: unknown keys \['train_batch_sise'\]"):
        parse_args(REQUIRED + ["--config", str(config)])
    config.write_text("{\n  \"seed\": 1,\n}")
    with pytest.raises(UserError, match="line 3: invalid JSON"):
        parse_args(REQUIRED + ["--config", str(config)])
    config.write_text(json.dumps({"lr_schedule": "cosine"}))
    with pytest.raises(UserError, match="unknown --lr_schedule 'cosine'"):
        parse_args(REQUIRED + ["--config", str(config)])


@pytest.mark.parametrize("flags, message", [
    (["--train_batch_size", "6", "--gradient_accumulation_steps", "4"], "not divisible"),
    (["--lr_schedule", "cosine"], "unknown --lr_schedule"),
    (["--optimizer", "sgd"], "unknown --optimizer"),
    (["--train_batch_size", "0"], "--train_batch_size must be a positive integer"),
    (["--no_token_id", "false"], "token type ids are not stored"),
    (["--resume", "auto", "--continue_from", "3"], "either --continue_from"),
    (["--lr_schedule", "BERT", "--warmup_proportion", "1.5"], "--warmup_proportion"),
])
def test_bad_flags_are_user_errors(flags, message):
    with pytest.raises(UserError, match=message):
        parse_args(REQUIRED + flags)


def test_missing_required_inputs():
    with pytest.raises(UserError, match="--train_input_file is required"):
        parse_args(["--model_name_or_path", "x", "--output_dir", "o"])
    with pytest.raises(UserError, match="--eval_input_file is required"):
        parse_args(["--model_name_or_path", "x", "--train_input_file", "d", "--output_dir", "o"])


def test_precision_resolution():
    default = parse_args(REQUIRED)
    assert resolve_precision(default, "cuda") == "fp16"      # the original's --fp16 true default
    assert resolve_precision(default, "cpu") == "fp32"
    assert resolve_precision(parse_args(REQUIRED + ["--fp16", "false"]), "cuda") == "fp32"
    assert resolve_precision(parse_args(REQUIRED + ["--precision", "bf16"]), "cpu") == "bf16"
    for flags in (["--fp16", "true"], ["--precision", "fp16"]):
        with pytest.raises(UserError, match="use --precision bf16"):
            resolve_precision(parse_args(REQUIRED + flags), "cpu")


def _flag_defaults(help_text: str) -> dict[str, str]:
    """``{flag spelling: default as printed}`` for every option entry of an argparse help text
    (the function that captured tests/assets/lsp_train_flags.json)."""
    entries: list[list[str]] = []
    for line in help_text.splitlines():
        if re.match(r"^  -", line):
            entries.append([line])
        elif entries and line.startswith("   "):
            entries[-1].append(line)
        elif entries and entries[-1]:
            entries.append([])  # a group header or blank line ends the entry
    table = {}
    for entry in filter(None, entries):
        head = re.split(r"\s{2,}", entry[0].strip())[0]
        text = " ".join(" ".join(entry).split())
        found = re.findall(r"\(default: ([^()]*)\)$", text)
        for flag in re.findall(r"(--[\w-]+)", head):
            table[flag] = found[-1] if found else "(none)"
    return table


def test_help_lists_the_same_flags_and_defaults_as_before_the_typed_config(repo_root):
    """Captured from the argparse-only parser (commit 98dddf1) before TrainConfig replaced it."""
    before = json.loads((repo_root / "tests" / "assets" / "lsp_train_flags.json").read_text())
    # Since then, a flag whose help states its default no longer prints "(default: None)" too.
    states_own_default = {"--config", "--tokenizer", "--save_step", "--precision"}
    expected = {flag: "(none)" if flag in states_own_default else printed
                for flag, printed in before["help_defaults"].items()}
    added = {"--tensorboard": "False",  # flags added since (issue 15; issue 24: epochs, LoRA)
             "--num_train_epochs": "(none)", "--lora_r": "0", "--lora_alpha": "(none)",
             "--lora_dropout": "0.05", "--lora_target_modules": "(none)"}
    assert _flag_defaults(build_parser().format_help()) == expected | added
    config = parse_args(["--model_name_or_path", "m", "--train_input_file", "db",
                         "--eval_input_file", "valid.tsv", "--output_dir", "out"])
    assert dataclasses.asdict(config) == before["parsed_with_required_flags"] | {
        "tensorboard": False, "num_train_epochs": None, "lora_r": 0, "lora_alpha": None,
        "lora_dropout": 0.05, "lora_target_modules": None}


def test_every_flag_is_a_documented_config_field():
    fields = {field.name: field for field in dataclasses.fields(TrainConfig)}
    flags = {action.dest for action in build_parser()._actions} - {"help"}
    assert flags == set(fields)
    assert all(field.metadata["help"].strip() for field in fields.values())
