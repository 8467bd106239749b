"""``--quantize int8``: PyTorch dynamic int8 quantization of a model's linear layers (CPU).

Weights of every projection (and the LM head) are stored as int8 with one scale per tensor;
activations are quantized per call. The numbers are ``torch.ao.quantization.quantize_dynamic``'s
(its default qconfig's weight observer, its ``DynamicQuantizedLinear``), but each layer is built
straight from the float weight: ``quantize_dynamic`` wants ``nn.Linear`` modules, so GPT-2's
``Conv1D`` projections (``x @ W + b``, ``W`` stored transposed) would first become freshly
initialised ``nn.Linear`` copies, and it deep-copies the model before converting it; skipping
both, and packing each layer once, took the 117M model's quantization from 2.5 CPU seconds
(under cProfile) to 0.7-0.9. The LM head, tied to the token embeddings, gets its own quantized
copy (the embeddings stay float). Quantization changes the numbers: greedy output mostly agrees
with float32 and the eval loss moves slightly (benchmarks/RESULTS.md states both). Activations are
scaled by the range of each call's whole input, so int8 output also depends on which requests
share a batch (float32 output does not).
"""

from __future__ import annotations


def int8_linear(weight, bias, *, conv1d: bool = False):
    """A ``DynamicQuantizedLinear`` computing ``x @ W.T + bias``, quantized as
    ``quantize_dynamic`` quantizes an ``nn.Linear`` with weight ``W``. ``weight`` is ``W``
    (``[out, in]``), or with ``conv1d`` a GPT-2 ``Conv1D``'s ``W.T`` (``[in, out]``; transposed
    after quantizing, when it is a quarter of the bytes)."""
    import torch
    from torch.ao.nn.quantized.dynamic import Linear
    from torch.ao.quantization.qconfig import default_dynamic_qconfig

    weight = weight.detach().float()
    observer = default_dynamic_qconfig.weight()  # per-tensor symmetric min/max
    observer(weight)
    scale, zero_point = observer.calculate_qparams()
    qweight = torch.quantize_per_tensor(weight.contiguous(), float(scale), int(zero_point),
                                        torch.qint8)
    if conv1d:
        qweight = qweight.t().contiguous()
    # Built 1 x 1 and then given its weight: the constructor packs a placeholder of its size,
    # which for full-sized layers doubled the packing time.
    layer = Linear(1, 1, dtype=torch.qint8)
    layer.out_features, layer.in_features = qweight.shape
    layer.set_weight_bias(qweight, bias)
    return layer


def quantize_int8(model):
    """``model`` (on the CPU, float32) with int8 dynamic quantization of its linear layers, in
    place (see the module docstring)."""
    import warnings

    import torch
    from transformers.pytorch_utils import Conv1D

    with warnings.catch_warnings():  # torch marks its quantized tensors deprecated
        warnings.simplefilter("ignore")
        head = model.get_output_embeddings()
        if head is not None:  # first, while it may still be tied to the embeddings
            model.config.tie_word_embeddings = False
            model.set_output_embeddings(int8_linear(head.weight, head.bias))
        for module in list(model.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, Conv1D):
                    setattr(module, name, int8_linear(child.weight, child.bias, conv1d=True))
                elif type(child) is torch.nn.Linear:
                    setattr(module, name, int8_linear(child.weight, child.bias))
    return model.eval()
