"""``--quantize int8``: PyTorch dynamic int8 quantization of a model's linear layers (CPU).

Weights of every projection (and the LM head) are stored as int8 with one scale per tensor;
activations are quantized per call. GPT-2 keeps its projections in ``Conv1D`` modules (``x @ W +
b`` with ``W`` stored transposed), which dynamic quantization does not know: they are replaced by
equivalent ``nn.Linear`` modules first. The LM head, tied to the token embeddings, gets its own
quantized copy (the embeddings stay float). Quantization changes the numbers: greedy output
mostly agrees with float32 and the eval loss moves slightly (benchmarks/RESULTS.md states both).
Activations are scaled by the range of each call's whole input, so int8 output also depends on
which requests share a batch (float32 output does not).
"""

from __future__ import annotations


def _linear_from_conv1d(conv):
    import torch

    linear = torch.nn.Linear(conv.weight.shape[0], conv.weight.shape[1])
    with torch.no_grad():
        linear.weight.copy_(conv.weight.t())
        linear.bias.copy_(conv.bias)
    return linear


def quantize_int8(model):
    """``model`` (on the CPU, float32) with int8 dynamic quantization of its linear layers."""
    import warnings

    import torch
    from torch.ao.quantization import quantize_dynamic
    from transformers.pytorch_utils import Conv1D

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, Conv1D):
                setattr(module, name, _linear_from_conv1d(child))
    head = model.get_output_embeddings()
    if head is not None:
        untied = torch.nn.Linear(head.in_features, head.out_features, bias=head.bias is not None)
        with torch.no_grad():
            untied.weight.copy_(head.weight)
            if head.bias is not None:
                untied.bias.copy_(head.bias)
        model.config.tie_word_embeddings = False
        model.set_output_embeddings(untied)
    with warnings.catch_warnings():  # torch marks its quantized tensors deprecated
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8).eval()
