"""The decoding pair of ``vs_original.py``: a 117M-shape model with random weights and contexts,
and the DialoGPT model card's one-at-a-time greedy loop as a whole process.

    python benchmarks/card_loop.py prepare WORK N            -> WORK/model/, WORK/contexts.tsv
    python benchmarks/card_loop.py run MODEL CONTEXTS OUT NEW_TOKENS

``run`` is the card's recipe (``tokenizer.encode(turns + eos)``, ``model.generate(...)``, decode
the new tokens), one context at a time, with ``transformers`` directly; one response a line.
Torch's threads follow ``OMP_NUM_THREADS``, as ``generate.py``'s do.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def prepare(work: Path, count: int) -> None:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    sys.path.insert(0, str(HERE))
    from bench_decode import synthetic_histories

    torch.manual_seed(0)
    config = GPT2Config.from_json_file(str(HERE.parent / "configs" / "117M" / "config.json"))
    GPT2LMHeadModel(config).eval().save_pretrained(work / "model")
    with open(work / "contexts.tsv", "w", encoding="utf-8") as out:
        for history in synthetic_histories(count, seed=0):
            out.write(" EOS ".join(history) + "\n")


def run(model_dir: Path, contexts: Path, out_path: Path, new_tokens: int) -> None:
    import torch
    from transformers import GPT2LMHeadModel, GPT2TokenizerFast

    from dialogpt.tokenization import gpt2_bpe_dir

    tokenizer = GPT2TokenizerFast.from_pretrained(str(gpt2_bpe_dir()))
    model = GPT2LMHeadModel.from_pretrained(str(model_dir)).eval()
    responses = []
    for line in contexts.read_text(encoding="utf-8").splitlines():
        text = "".join(turn + tokenizer.eos_token for turn in line.split(" EOS "))
        input_ids = tokenizer.encode(text, return_tensors="pt")
        with torch.inference_mode():
            output = model.generate(input_ids, attention_mask=torch.ones_like(input_ids),
                                    max_new_tokens=new_tokens, pad_token_id=tokenizer.eos_token_id,
                                    do_sample=False)
        responses.append(tokenizer.decode(output[0, input_ids.shape[-1]:],
                                          skip_special_tokens=True))
    out_path.write_text("".join(response.replace("\n", " ").strip() + "\n"
                                for response in responses), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        run(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5]))
