"""LSP_train.py --lora_r: LoRA adapters for both model kinds (GPT-2 causal, T5 seq2seq) through the
one trainer: the trainable share against a hand count, the loss falling, the frozen base, the
merged checkpoint against base + PEFT adapter, exact resume after SIGKILL, DDP against one process.

The models are tiny ones saved from our own seeded initialisation (``tests/tiny_models.py``); no
number below comes from the library's initialisation.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_models import save_tiny_gpt2
from training_helpers import KILLER, launch, read_csv_rows, train_argv

from dialogpt.cli import UserError
from dialogpt.training import checkpoint as ckpt
from dialogpt.training.train import main

KINDS = ("causal", "seq2seq")
R = 4
_SHARE = re.compile(r"LoRA: r=(\d+), .*\((\d+) matrices\); trainable parameters ([\d,]+) of "
                    r"([\d,]+) \(([\d.]+)%\)")


def _no_dropout(directory: Path) -> Path:
    config_file = directory / "config.json"
    config = json.loads(config_file.read_text())
    config.update({key: 0.0 for key in ("resid_pdrop", "embd_pdrop", "attn_pdrop", "dropout_rate")
                   if key in config})
    config_file.write_text(json.dumps(config))
    return directory


def _save_t5(directory: Path, tokenizer_dir: Path, seed: int) -> Path:
    """configs/t5-tiny with the offline tokenizer's vocabulary and T5's own initialiser scale
    (``save_tiny_t5``'s 20x scale, there for varied greedy decoding, makes logits so large that
    float32 rounding alone exceeds 1e-5)."""
    from transformers import T5ForConditionalGeneration

    from dialogpt.modeling import read_model_config
    from dialogpt.tokenization import load_tokenizer

    config = read_model_config(Path(__file__).resolve().parents[2] / "configs" / "t5-tiny")
    tokenizer = load_tokenizer(str(tokenizer_dir))
    config.vocab_size = -(-len(tokenizer) // 64) * 64
    torch.manual_seed(seed)
    T5ForConditionalGeneration(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def base_models(tmp_path_factory, t5_tokenizer_dir) -> dict[str, Path]:
    """Pretrained-looking bases: a tiny GPT-2 (positions for the 128-token DB) and a tiny T5 with
    the offline tokenizer, weights from our seeded initialisation, dropout on (0.1 both)."""
    root = tmp_path_factory.mktemp("lora-bases")
    return {"causal": save_tiny_gpt2(root / "gpt2", seed=5, n_positions=128),
            "seq2seq": _save_t5(root / "t5", t5_tokenizer_dir, seed=5)}


def _data(request, kind):
    return request.getfixturevalue("corpus" if kind == "causal" else "grounded")


def _hand_count(kind: str, base: Path) -> tuple[int, int]:
    """(LoRA parameters, adapted matrices) by the formula r * (in + out) per adapted matrix."""
    config = json.loads((base / "config.json").read_text())
    if kind == "causal":   # c_attn of each block: n_embd -> 3 n_embd
        matrices = config["n_layer"]
        return matrices * R * (config["n_embd"] + 3 * config["n_embd"]), matrices
    # q and v of every attention: encoder self, decoder self and cross; d_model -> heads * d_kv
    attentions = config["num_layers"] + 2 * config["num_decoder_layers"]
    inner = config["num_heads"] * config["d_kv"]
    return 2 * attentions * R * (config["d_model"] + inner), 2 * attentions


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def _train(argv: list[str]) -> list[str]:
    """Run LSP_train in-process; the trainer's log lines."""
    handler, loop_logger = _Lines(), logging.getLogger("dialogpt.training.loop")
    loop_logger.addHandler(handler)
    try:
        assert main(argv) == 0
    finally:
        loop_logger.removeHandler(handler)
    return handler.lines


def _losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "train_log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def lora_runs(request, base_models, tmp_path_factory) -> dict[str, tuple[Path, list[str]]]:
    """6 LoRA steps on the 8-example DB (each step sees all 8: the loss must fall), per kind."""
    runs = {}
    for kind in KINDS:
        data, out = _data(request, kind), tmp_path_factory.mktemp(f"lora-{kind}")
        lines = _train(train_argv(base_models[kind], data["tiny8"], data["eval"], out,
                                  num_optim_steps=6, save_step=3, valid_step=6,
                                  learning_rate=0.1, lora_r=R))
        runs[kind] = out, lines
    return runs


@pytest.mark.parametrize("kind", KINDS)
def test_trainable_share_is_printed_and_equals_a_hand_count(kind, lora_runs, base_models):
    _, lines = lora_runs[kind]
    found = [_SHARE.search(line) for line in lines]
    match = next(m for m in found if m)
    want, matrices = _hand_count(kind, base_models[kind])
    base_total = sum(t.numel() for t in load_file(str(base_models[kind] / "model.safetensors"))
                     .values())
    assert int(match.group(1)) == R and int(match.group(2)) == matrices
    assert int(match.group(3).replace(",", "")) == want
    assert int(match.group(4).replace(",", "")) == base_total + want
    assert float(match.group(5)) == pytest.approx(100 * want / (base_total + want), abs=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_only_the_adapters_train_and_the_loss_falls(kind, lora_runs, base_models):
    out, _ = lora_runs[kind]
    losses = _losses(out)
    assert len(losses) == 6 and losses[-1] < losses[0] - 0.5, losses
    assert sum(losses[3:]) < sum(losses[:3]) - 1.0, losses     # dropout: not every step lower

    base = load_file(str(base_models[kind] / "model.safetensors"))
    merged = load_file(str(out / "checkpoint-step-6" / "model.safetensors"))
    assert merged.keys() == base.keys()            # plain names, no adapter tensors
    adapted = {"c_attn"} if kind == "causal" else {"q", "v"}
    changed = {name for name in base if not torch.equal(base[name], merged[name])}
    assert changed and all(name.split(".")[-2] in adapted and name.endswith(".weight")
                           for name in changed), sorted(changed)

    adapter = load_file(str(out / "checkpoint-step-6" / "adapter" / "adapter_model.safetensors"))
    state = ckpt.load_training_state(out / "checkpoint-step-6")["optimizer"]["state"]
    assert len(state) == len(adapter)              # Adam moments of the adapters, nothing else
    assert sorted(tuple(s["exp_avg"].shape) for s in state.values()) == \
        sorted(tuple(t.shape) for t in adapter.values())


@pytest.mark.parametrize("kind", KINDS)
def test_merged_checkpoint_equals_base_plus_the_peft_adapter(kind, lora_runs, base_models):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    out, _ = lora_runs[kind]
    checkpoint = out / "checkpoint-step-6"
    auto = AutoModelForCausalLM if kind == "causal" else AutoModelForSeq2SeqLM
    merged = auto.from_pretrained(checkpoint).eval()
    adapted = PeftModel.from_pretrained(auto.from_pretrained(base_models[kind]),
                                        checkpoint / "adapter").eval()
    plain = auto.from_pretrained(base_models[kind]).eval()
    ids = torch.randint(3, 60, (2, 12), generator=torch.Generator().manual_seed(0))
    inputs = {"input_ids": ids}
    if kind == "seq2seq":
        inputs["decoder_input_ids"] = ids[:, :5]
    with torch.no_grad():
        want, got, before = (model(**inputs).logits for model in (adapted, merged, plain))
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    assert (got - before).abs().max() > 1e-3      # the adapter does change the outputs


def test_merged_checkpoint_decodes_with_generate_py(lora_runs, corpus, tmp_path):
    from dialogpt.decoding.generate_cli import main as generate_main

    out, _ = lora_runs["causal"]
    responses = tmp_path / "resp.txt"
    assert generate_main(["--model", str(out / "checkpoint-step-6"), "--input",
                          str(corpus["eval"]), "--output", str(responses), "--max_length",
                          "8", "--device", "cpu"]) == 0
    assert len(responses.read_text().splitlines()) == len(corpus["eval"].read_text().splitlines())


def test_resuming_a_lora_checkpoint_needs_its_flags(lora_runs, corpus, base_models, tmp_path):
    out, _ = lora_runs["causal"]
    argv = train_argv(base_models["causal"], corpus["tiny8"], None, out, num_optim_steps=7,
                      resume="auto")
    with pytest.raises(UserError, match=f"LoRA run; resume with its flags: --lora_r {R} "
                                        f"--lora_alpha {2.0 * R} --lora_target_modules c_attn"):
        main(argv)
    with pytest.raises(UserError, match=f"its adapter has r={R}.*same --lora_r"):
        main(argv + ["--lora_r", str(2 * R)])


def test_resume_refuses_a_base_model_changed_since_the_run_started(base_models, corpus,
                                                                    tmp_path):
    import shutil

    from safetensors.torch import save_file

    base = Path(shutil.copytree(base_models["causal"], tmp_path / "base"))
    out = tmp_path / "out"
    argv = train_argv(base, corpus["tiny8"], None, out, num_optim_steps=1, lora_r=R)
    assert main(argv) == 0
    weights = load_file(str(base / "model.safetensors"))
    weights["transformer.h.0.mlp.c_fc.weight"] += 0.01     # not adapted, so frozen in the run
    save_file(weights, str(base / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(UserError, match="base model this LoRA run started from has changed "
                                        r"since \(transformer.h.0.mlp.c_fc.weight differs"):
        main(train_argv(base, corpus["tiny8"], None, out, num_optim_steps=2, lora_r=R,
                        resume="auto"))


def test_an_unknown_target_module_names_the_linear_layers(base_models, corpus, tmp_path):
    argv = train_argv(base_models["causal"], corpus["tiny8"], None, tmp_path / "out",
                      lora_r=R) + ["--lora_target_modules", "query"]
    with pytest.raises(UserError, match="--lora_target_modules query: .*c_attn, c_fc, c_proj"):
        main(argv)


def test_without_peft_one_line_says_how_to_install(monkeypatch, base_models, corpus, tmp_path):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "peft" else find_spec(name, *a))
    with pytest.raises(UserError, match=r'^--lora_r 4: LoRA needs the peft package: pip install '
                                        r'-e "\.\[lora\]"$'):
        main(train_argv(base_models["causal"], corpus["tiny8"], None, tmp_path / "o", lora_r=4))


def test_bart_defaults_adapt_query_and_value_by_the_hand_count():
    from transformers import BartConfig, BartForConditionalGeneration

    from dialogpt.training.lora import LoraSettings, add_adapters, parameter_counts

    torch.manual_seed(0)
    config = BartConfig(vocab_size=64, d_model=16, encoder_layers=2, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2,
                        encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=32)
    model = BartForConditionalGeneration(config)
    total = parameter_counts(model)[1]
    adapted = add_adapters(model, LoraSettings(r=2))
    matrices = 2 * (2 + 2 * 1)      # q_proj and v_proj of 2 encoder + 1 decoder (self, cross)
    assert parameter_counts(model) == (matrices * 2 * (16 + 16), total + matrices * 2 * 32)
    assert adapted.peft_config["default"].lora_alpha == 4.0     # default alpha: 2 r


def _loss_columns(out):
    columns = ("epoch", "global_step", "step", "mean_loss", "mean_ppl", "n_token_real")
    return [tuple(row[c] for c in columns) for row in read_csv_rows(out / "train_log.txt")]


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_sigkill_then_resume_matches_an_uninterrupted_lora_run(kind, request, base_models,
                                                              tmp_path, repo_root):
    """Dropout on (base and adapters), 2 micro-batches per step, evaluation between the saved and
    the resumed steps: 6 steps straight == 3 steps, killed in step 5, --resume auto."""
    data = _data(request, kind)
    flags = dict(num_optim_steps=6, save_step=3, valid_step=2, learning_rate=1e-3,
                 lr_schedule="noam", warmup_steps=4, lora_r=R, lora_dropout=0.1)
    straight = tmp_path / "straight"
    assert main(train_argv(base_models[kind], data["train"], data["eval"], straight,
                           **flags)) == 0
    crashed = tmp_path / "crashed"
    argv = train_argv(base_models[kind], data["train"], data["eval"], crashed, **flags)
    child = subprocess.run([sys.executable, "-c", KILLER, "5", *argv], cwd=repo_root,
                           env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                           text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert ckpt.latest_checkpoint(crashed) == crashed / "checkpoint-step-3"
    assert main(argv + ["--resume", "auto"]) == 0

    assert _loss_columns(crashed) == _loss_columns(straight)
    assert [r["eval_loss"] for r in read_csv_rows(crashed / "eval_log.txt")] == \
        [r["eval_loss"] for r in read_csv_rows(straight / "eval_log.txt")]
    for name in ("model.safetensors", "adapter/adapter_model.safetensors"):
        one = load_file(str(straight / "checkpoint-step-6" / name))
        two = load_file(str(crashed / "checkpoint-step-6" / name))
        assert one.keys() == two.keys()
        for key, tensor in one.items():
            assert torch.equal(tensor, two[key]), (name, key)


@pytest.mark.slow
@pytest.mark.multiproc
@pytest.mark.parametrize("kind", KINDS)
def test_two_process_ddp_lora_equals_one_process(kind, request, base_models, tmp_path,
                                                 repo_root):
    """As tests/training/test_distributed.py, with adapters: dropout off everywhere, every step
    holds the DB's 8 examples (1 process x 2 x 4, or 2 processes x 2 x 2)."""
    import shutil

    data = _data(request, kind)
    base = _no_dropout(Path(shutil.copytree(base_models[kind], tmp_path / "base")))
    common = dict(num_optim_steps=3, valid_step=3, learning_rate=1e-3,
                  gradient_accumulation_steps=2, lora_r=R, lora_dropout=0.0)
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert main(train_argv(base, data["tiny8"], data["eval"], single, train_batch_size=8,
                           **common)) == 0
    launched = launch(["torch.distributed.run", "--standalone", "--nproc_per_node=2",
                       "LSP_train.py", *train_argv(base, data["tiny8"], data["eval"], ddp,
                                                   train_batch_size=4, **common)], repo_root)
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "processes        2 (gloo)" in launched.stderr
    for name in ("model.safetensors", "adapter/adapter_model.safetensors"):
        one = load_file(str(single / "checkpoint-step-3" / name))
        two = load_file(str(ddp / "checkpoint-step-3" / name))
        for key, tensor in one.items():
            torch.testing.assert_close(two[key], tensor, rtol=0, atol=1e-5, msg=key)
    for a, b in zip(read_csv_rows(single / "train_log.txt"), read_csv_rows(ddp / "train_log.txt"),
                    strict=True):
        assert float(a["mean_loss"]) == pytest.approx(float(b["mean_loss"]), rel=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_lora_on_cuda_trains_under_autocast(precision, base_models, corpus, tmp_path):
    """fp16 (the grad scaler unscales the adapters' gradients alone) and bf16 on CUDA."""
    out = tmp_path / precision
    assert main(train_argv(base_models["causal"], corpus["tiny8"], None, out, num_optim_steps=4,
                           learning_rate=0.1, lora_r=R, precision=precision,
                           device="cuda")) == 0
    losses = _losses(out)
    assert all(loss == loss for loss in losses) and losses[-1] < losses[0], losses
    assert (out / "checkpoint-step-4" / "adapter" / "adapter_model.safetensors").is_file()


def test_all_linear_adapts_the_four_matrices_of_every_gpt2_block_but_not_the_output_layer():
    from transformers import GPT2Config, GPT2LMHeadModel

    from dialogpt.training.lora import LoraSettings, add_adapters, parameter_counts

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_embd=16, n_layer=3, n_head=2, n_positions=32,
                                       vocab_size=64))
    add_adapters(model, LoraSettings(r=2, target_modules=("all-linear",)))
    # per block: c_attn 16->48, attn.c_proj 16->16, c_fc 16->64, mlp.c_proj 64->16
    assert parameter_counts(model)[0] == 3 * 2 * ((16 + 48) + (16 + 16) + (16 + 64) + (64 + 16))
