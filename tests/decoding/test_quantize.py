"""``--quantize int8``: the layers are torch's own dynamic quantization of the float weights,
built directly (no float ``nn.Linear`` copies, no deep copy of the model)."""

from __future__ import annotations

import torch

from dialogpt.decoding.quantize import quantize_int8
from dialogpt.modeling import load_model


def torch_reference(model):
    """torch's documented route: GPT-2's ``Conv1D`` layers and the untied head as ``nn.Linear``,
    then ``quantize_dynamic``."""
    from torch.ao.quantization import quantize_dynamic
    from transformers.pytorch_utils import Conv1D

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, Conv1D):
                linear = torch.nn.Linear(*child.weight.shape)
                with torch.no_grad():
                    linear.weight.copy_(child.weight.t())
                    linear.bias.copy_(child.bias)
                setattr(module, name, linear)
    head = model.get_output_embeddings()
    untied = torch.nn.Linear(head.in_features, head.out_features, bias=False)
    with torch.no_grad():
        untied.weight.copy_(head.weight)
    model.config.tie_word_embeddings = False
    model.set_output_embeddings(untied)
    return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8).eval()


def test_int8_model_equals_torch_quantize_dynamic(tiny_model_dir):
    ours = quantize_int8(load_model(tiny_model_dir).eval())
    reference = torch_reference(load_model(tiny_model_dir).eval())
    ids = torch.randint(0, 50000, (3, 11), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(ours(ids).logits, reference(ids).logits)
    assert ours.get_output_embeddings() is not ours.get_input_embeddings()
    assert ours.get_input_embeddings().weight.dtype == torch.float32
    layer = ours.transformer.h[0].mlp.c_fc
    assert "DynamicQuantizedLinear" in repr(layer)
    assert (layer.in_features, layer.out_features) == reference.transformer.h[0].mlp.c_fc.weight(
        ).shape[::-1]
