"""Model configs, original-checkpoint conversion and safe loading."""

from __future__ import annotations

import json
import os

import pytest
import torch
from tiny_models import seeded_init_

from dialogpt.cli import UserError
from dialogpt.convert import main as convert_main
from dialogpt.modeling import convert_original_state_dict, load_model, read_model_config

GPT2_PUBLIC = {  # the public GPT-2 hyper-parameters (Radford et al., 2019)
    "117M": (768, 12, 12),
    "345M": (1024, 24, 16),
    "762M": (1280, 36, 20),
}


def _tiny_model(seed=0):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=50257, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    return seeded_init_(GPT2LMHeadModel(config), seed).eval()


def _original_layout(model, body_only=False):
    """The key layout of the original DialoGPT .pkl files, built by hand."""
    state = {}
    n_ctx = model.config.n_positions
    for key, value in model.state_dict().items():
        if key == "lm_head.weight":
            if body_only:
                continue
            key = "lm_head.decoder.weight"
        if body_only:
            key = key[len("transformer."):]
        state[key] = value.clone()
    prefix = "" if body_only else "transformer."
    for layer in range(model.config.n_layer):
        state[f"{prefix}h.{layer}.attn.bias"] = torch.tril(torch.ones(n_ctx, n_ctx)).view(
            1, 1, n_ctx, n_ctx)
        state[f"{prefix}h.{layer}.attn.masked_bias"] = torch.tensor(-1e4)
    if not body_only:
        state = {f"module.{key}": value for key, value in state.items()}
    return state


@pytest.mark.parametrize("name", ["117M", "345M", "762M", "tiny"])
def test_every_shipped_config_loads(repo_root, name):
    config = read_model_config(repo_root / "configs" / name)
    assert config.vocab_size == 50257
    assert config.n_embd % config.n_head == 0
    if name in GPT2_PUBLIC:
        assert (config.n_embd, config.n_layer, config.n_head) == GPT2_PUBLIC[name]
        assert config.n_positions == 1024


def test_config_directory_list_is_complete(repo_root):
    shipped = {path.parent.name for path in (repo_root / "configs").glob("*/config.json")}
    assert shipped == {"117M", "345M", "762M", "tiny", "t5-tiny", "godel-v1_1-base"}
    for path in (repo_root / "configs").glob("*/config.json"):
        assert next(iter(json.loads(path.read_text()))) == "_usage", f"{path} must start with _usage"


def test_seq2seq_configs_load_as_t5(repo_root):
    """GODEL v1.1 base has T5-base's shape (Raffel et al., 2020): 12+12 layers, 768 wide, 12
    heads, a 3072 ReLU feed-forward, 32128 tokens; Hugging Face's t5-base has 222,903,552
    parameters with its tied embeddings."""
    godel = read_model_config(repo_root / "configs" / "godel-v1_1-base")
    assert (godel.model_type, godel.d_model, godel.d_ff, godel.num_layers,
            godel.num_decoder_layers, godel.num_heads, godel.vocab_size,
            godel.feed_forward_proj) == ("t5", 768, 3072, 12, 12, 12, 32128, "relu")
    with torch.device("meta"):
        model = load_model(repo_root / "configs" / "godel-v1_1-base")
    assert sum(parameter.numel() for parameter in model.parameters()) == 222_903_552
    tiny = load_model(repo_root / "configs" / "t5-tiny")
    assert tiny.config.is_encoder_decoder and tiny.config.decoder_start_token_id == 0
    assert tiny.config.vocab_size == 32128 and tiny.config.eos_token_id == 1


def test_tiny_config_builds_a_model(repo_root):
    model = load_model(repo_root / "configs" / "tiny")
    assert model.config.n_layer == 2 and model.config.n_embd == 128
    assert model.config._attn_implementation == "sdpa"


def test_unknown_config_key_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "gpt2", "n_embed_typo": 3}')
    with pytest.raises(UserError, match="n_embed_typo"):
        read_model_config(tmp_path)


def test_conversion_renames_and_drops_buffers():
    state = {"module.transformer.h.0.attn.bias": 1, "module.transformer.h.0.attn.masked_bias": 2,
             "module.transformer.wte.weight": 3, "module.lm_head.decoder.weight": 4}
    assert convert_original_state_dict(state) == {"transformer.wte.weight": 3,
                                                  "lm_head.weight": 4}
    assert convert_original_state_dict({"wte.weight": 1, "h.0.attn.bias": 2}) == {
        "transformer.wte.weight": 1}


@pytest.mark.parametrize("body_only", [False, True])
def test_original_pkl_converts_with_equal_logits(tmp_path, body_only):
    source = _tiny_model()
    pkl = tmp_path / "GP2-pretrain-step-10.pkl"
    torch.save(_original_layout(source, body_only=body_only), pkl)
    (tmp_path / "cfg").mkdir()
    source.config.to_json_file(tmp_path / "cfg" / "config.json")

    out = tmp_path / "hf"
    assert convert_main(["--checkpoint", str(pkl), "--config", str(tmp_path / "cfg"),
                         "--output_dir", str(out)]) == 0
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()

    from transformers import AutoModelForCausalLM, AutoTokenizer
    converted = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = torch.tensor([tokenizer.encode("Hello world<|endoftext|>How are you?")])
    with torch.no_grad():
        expected = source(ids).logits
        actual = converted(ids).logits
    assert torch.allclose(actual, expected, atol=1e-6, rtol=0)


def test_init_checkpoint_overlays_weights(tmp_path):
    source = _tiny_model(seed=1)
    pkl = tmp_path / "small_ft.pkl"
    torch.save(_original_layout(source), pkl)
    cfg = tmp_path / "config.json"
    source.config.to_json_file(cfg)
    model = load_model(cfg, init_checkpoint=pkl)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_checkpoint_of_another_shape_is_refused(tmp_path, repo_root):
    pkl = tmp_path / "x.pkl"
    torch.save(_original_layout(_tiny_model()), pkl)
    with pytest.raises(UserError, match="shape"):
        load_model(repo_root / "configs" / "tiny", init_checkpoint=pkl)


class _Payload:
    """Stands for arbitrary code riding in a pickle."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_pickle_with_code_is_refused(tmp_path, repo_root):
    pkl = tmp_path / "evil.pkl"
    torch.save({"transformer.wte.weight": torch.zeros(2), "payload": _Payload()}, pkl)
    with pytest.raises(UserError, match="refusing to load"):
        load_model(repo_root / "configs" / "tiny", init_checkpoint=pkl)


def test_missing_model_names_what_was_tried(tmp_path):
    with pytest.raises(UserError, match="neither weights"):
        load_model(tmp_path)


def test_unreachable_hub_id_is_a_clear_error(hub_offline):
    with pytest.raises(UserError, match="could not load model 'microsoft/DialoGPT-small'"):
        load_model("microsoft/DialoGPT-small")
