"""The commands README.md shows, each with the id ``bench_readme_times.py`` times it under.

One :class:`Command` per id: ``readme`` is the text as README.md prints it (backslash
continuations joined, runs of spaces collapsed; a test checks that it is there, and that every id
is named in README.md, so the two cannot drift); ``run`` is what is executed in the work
directory when it differs (``None``: the README text itself); ``stand_in`` says in words what
stands in for what cannot run here (Hub ids, real dumps, GPUs, a network). ``kind``:

- ``run``: wall time of the command, start to exit;
- ``chat``: the command reads ``hello`` then ``/quit`` on stdin (time to exit);
- ``train_probe``: the training command as printed, stopped once the trainer has printed its
  outlook with the measured seconds per step (the figure is seconds per step and the ETA);
- ``serve``: time until ``/health`` answers, then one chat request's latency;
- ``client``: a client command run against the ``serve`` started by ``server`` (its id);
- ``not_measured``: cannot run here; ``stand_in`` says why.

``group`` is the sub-folder of the work directory the command runs in (``dialog``, ``mmi``,
``godel``, ``grounded``, ``demo``, ``demo_small``); ``needs`` names the preparations of
``readme_prep.py`` (untimed, cached in the work directory) run before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CHECKPOINT_117M = ("`models/run/checkpoint-step-N` (and `models/fwd`, `models/rev`) are "
                   "configs/117M with random weights (from_pretrained-loadable), standing in for "
                   "a trained 117M checkpoint")
GODEL_LOCAL = ("`microsoft/GODEL-v1_1-base-seq2seq` is a local folder of that name in the work "
               "directory: configs/godel-v1_1-base with random weights and a train_t5_tokenizer "
               "vocabulary (the GODEL tokenizer is not available offline)")
DDP_STAND_IN = ("stand-in: torchrun --nproc_per_node=2 (gloo, CPU) training configs/tiny for 10 "
                "steps on data/train.128len.db; the printed line needs 8 GPUs")
LEGACY_STAND_IN = ("stand-in: python -m torch.distributed.launch --nproc_per_node=2 (gloo, CPU), "
                   "the same 10 tiny steps; the printed line needs 8 GPUs")
DDP_FLAGS = ("LSP_train.py --model_name_or_path configs/tiny --train_input_file "
             "data/train.128len.db --eval_input_file data/valid.tsv --output_dir {out} "
             "--num_optim_steps 10 --valid_step 10 --train_batch_size 8 --pbar false")
GROUNDED_CHECKPOINT = "models/demo-grounded/train/checkpoint-step-500"
SMALL_EXTRACT = "cd reddit_extractor && SIZE=small make -j 8"
RATE_MONTHS = ("2009-11", "2009-12")
"""The months of the per-million-comments measurement (synthetic, realistic size)."""


@dataclass(frozen=True)
class Command:
    id: str
    readme: str
    group: str
    kind: str = "run"
    run: str | None = None
    needs: tuple[str, ...] = ()
    stand_in: str = ""
    server: str = ""
    env: dict = field(default_factory=dict)


def _c(*args, **kwargs) -> Command:
    return Command(*args, **kwargs)


COMMANDS: list[Command] = [
    # --- the pipeline table, the Reddit extraction and checkpoint sections (dialog/)
    _c("extract_small", SMALL_EXTRACT, "dialog", needs=("small_dumps",),
       stand_in="the 49 months of SIZE=small are synthetic dumps (dialogpt.extraction.synthetic, "
                "{small_comments} comments in all) with local key files written beside them "
                "(the key-archive fetch needs a network)"),
    _c("extract_rate", SMALL_EXTRACT, "dialog", needs=("rate_dumps",),
       run=(f"cd reddit_extractor && SIZE=small make -j 8 TRAIN_MONTHS=\"{' '.join(RATE_MONTHS)}\" "
            "S=rate/dumps K=rate/keys T=rate/work DATA=rate/data"),
       stand_in="two synthetic months of {rate_comments_per_month} comments each, with local "
                "key files: the seconds per million comments of make -j 8 on this machine"),
    _c("prepro", "python prepro.py --corpus data/train.tsv --max_seq_len 128", "dialog",
       needs=("train_tsv",), stand_in="data/train.tsv is extract_small's output ({train_lines} "
                                      "lines)"),
    _c("train_117m", "python LSP_train.py --model_name_or_path configs/117M --train_input_file "
       "data/train.128len.db --eval_input_file data/valid.tsv --output_dir models/run", "dialog",
       kind="train_probe", needs=("db", "valid_tsv"),
       stand_in="run as printed and stopped once the trainer prints its measured seconds per "
                "step and the ETA of the 1,000,000-step plan"),
    _c("interact", "python interact.py --model models/run/checkpoint-step-N", "dialog",
       kind="chat", needs=("model_117m",), stand_in=CHECKPOINT_117M + "; one turn, then /quit"),
    _c("serve", "python serve.py --model models/run/checkpoint-step-N", "dialog", kind="serve",
       needs=("model_117m",), stand_in=CHECKPOINT_117M),
    _c("plot", "python plot.py models/run [models/other ...]", "dialog",
       run="python plot.py models/run", needs=("run_logs",),
       stand_in="models/run holds the train_117m probe's logs"),
    _c("make_refs", "python make_refs.py --tsv data/valid.tsv --out data/test.refs.txt",
       "dialog", needs=("valid_tsv",),
       stand_in="data/valid.tsv: {valid_lines} lines sampled from extract_small's train.tsv (they stay in it)"),
    _c("generate", "python generate.py --model models/run/checkpoint-step-N --input "
       "data/test.refs.txt --output out.resp.txt", "dialog", needs=("model_117m", "refs"),
       stand_in=CHECKPOINT_117M + "; {refs_lines} contexts"),
    _c("prepro_reverse", "python prepro.py --corpus data/train.tsv --reverse", "dialog",
       needs=("train_tsv",)),
    _c("generate_mmi", "python generate.py --model models/fwd --mmi_model models/rev --decoding "
       "sample --top_k 20 --num_candidates 16 --input data/test.refs.txt --output mmi.resp.txt",
       "mmi", needs=("mmi_refs",),
       stand_in=CHECKPOINT_117M + "; {mmi_contexts} contexts x 16 candidates"),
    _c("eval", "python batch_eval.py --refs data/test.refs.txt --hyp out.resp.txt --format plain",
       "dialog", needs=("refs", "hyp"), stand_in="{refs_lines} contexts; METEOR included"),
    _c("eval_json", "python batch_eval.py --refs data/test.refs.txt --hyp out.resp.txt --clean "
       "--json", "dialog", needs=("refs", "hyp"), stand_in="{refs_lines} contexts"),
    _c("eval_dstc", "python batch_eval.py --refs refs.txt --keys keys.2k.txt --hyp "
       "submission.txt --clean", "dialog", needs=("dstc_case",),
       stand_in="the vendored synth200 case (200 contexts, not 2k): refs.txt, keys.txt as "
                "keys.2k.txt, hyp_shuffle.txt as submission.txt"),
    _c("convert_checkpoint", "python convert_checkpoint.py --checkpoint small_ft.pkl --config "
       "configs/117M --output_dir models/small", "dialog", needs=("small_ft_pkl",),
       stand_in="small_ft.pkl holds random 117M weights in the original .pkl layout"),
    _c("ray_start", "ray start --head", "dialog", kind="not_measured",
       stand_in="not measured: it starts a cluster daemon; ray_make below includes a local "
                "Ray's start-up and shutdown"),
    _c("ray_make", "cd reddit_extractor && RAY_ADDRESS=HEAD:6379 make train EXECUTOR=ray "
       "SIZE=full S=/shared/dumps K=/shared/keys T=/shared/work", "dialog",
       needs=("small_dumps",),
       run=("cd reddit_extractor && make train EXECUTOR=ray SIZE=small S=dumps K=keys "
            "T=ray/work DATA=ray/data"),
       stand_in="Ray on this machine (no RAY_ADDRESS) over extract_small's 49 synthetic months, "
                "not the full set on a cluster"),
    # --- serving (dialog/)
    _c("serve_117m", "python serve.py --model configs/117M --max_length 32", "dialog",
       kind="serve", stand_in="random weights, as the README says"),
    _c("curl_chat", "curl -s http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: "
       "application/json' -d '{\"messages\": [{\"role\": \"user\", \"content\": \"Does money "
       "buy happiness?\"}], \"temperature\": 0}'", "dialog", kind="client", server="serve_117m"),
    _c("openai_chat", "python -c \"from openai import OpenAI; c = OpenAI(base_url='http://127.0"
       ".0.1:8000/v1', api_key='none'); m = c.models.list().data[0].id; print(c.chat.completions"
       ".create(model=m, messages=[{'role': 'user', 'content': 'Hi!'}]).choices[0].message"
       ".content)\"", "dialog",
       kind="client", server="serve_117m"),
    # --- several GPUs (dialog/)
    _c("torchrun", "torchrun --nproc_per_node=8 LSP_train.py --model_name_or_path configs/345M "
       "--precision bf16 ...", "dialog", needs=("db", "valid_tsv"),
       run="torchrun --nproc_per_node=2 --master_port {port} " + DDP_FLAGS.format(out="models/ddp"),
       stand_in=DDP_STAND_IN),
    _c("torchrun_nodes", "torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d "
       "--rdzv_endpoint=HOST:29500 LSP_train.py ...", "dialog", kind="not_measured",
       stand_in="not measured here (needs 2 nodes with GPUs)"),
    _c("distributed_launch", "python -m torch.distributed.launch --nproc_per_node=8 LSP_train.py "
       "...", "dialog", needs=("db", "valid_tsv"),
       run=("python -m torch.distributed.launch --nproc_per_node=2 --master_port {port} "
            + DDP_FLAGS.format(out="models/ddp-legacy")),
       stand_in=LEGACY_STAND_IN),
    # --- GODEL data, training, decoding (godel/)
    _c("convert_tsv", "python -m dialogpt.data.convert_tsv --input data/train.tsv --output "
       "data/train.jsonl", "godel", needs=("godel_tsv",),
       stand_in="data/train.tsv is extract_small's output"),
    _c("prepro_godel", "python prepro.py --corpus data/train.jsonl --tokenizer "
       "microsoft/GODEL-v1_1-base-seq2seq --instruction \"Instruction: given a dialog context, "
       "you need to response empathically.\"", "godel", needs=("godel_jsonl", "godel_model"),
       stand_in=GODEL_LOCAL),
    _c("inspect", "python prepro.py --inspect data/train.512src128tgt.card.db --limit 3", "godel",
       needs=("godel_db",)),
    _c("eval_godel", "python batch_eval.py --refs data/test.jsonl --hyp test.resp.txt", "godel",
       needs=("godel_test",),
       stand_in="data/test.jsonl: data/valid.tsv converted ({valid_lines} records); "
                "test.resp.txt: the first half of each reference (the text does not change the "
                "time much)"),
    _c("train_godel", "python LSP_train.py --model_name_or_path microsoft/GODEL-v1_1-base-seq2seq "
       "--train_input_file data/train.512src128tgt.card.db --eval_input_file data/valid.jsonl "
       "--output_dir models/godel --train_batch_size 8 --gradient_accumulation_steps 1 "
       "--learning_rate 5e-5 --lr_schedule BERT --warmup_proportion 0.001 --weight_decay 0 "
       "--max_grad_norm 0 --num_optim_steps 20000 --valid_step 2000 --precision bf16", "godel",
       kind="train_probe", needs=("godel_model", "godel_db", "godel_valid"),
       stand_in=GODEL_LOCAL + "; stopped once the trainer prints its measured seconds per step "
                              "and the ETA of the 20,000-step plan"),
    _c("generate_godel", "python generate.py --model microsoft/GODEL-v1_1-base-seq2seq --input "
       "data/grounded/test.jsonl --output test.resp.txt --preset server", "godel",
       needs=("godel_model", "godel_grounded"),
       stand_in=GODEL_LOCAL + "; data/grounded/test.jsonl: {godel_records} grounded demo "
                              "records (random weights: every reply runs to 128 tokens)"),
    _c("interact_godel", "python interact.py --model microsoft/GODEL-v1_1-base-seq2seq --preset "
       "card --instruction \"Instruction: given a dialog context and related knowledge, you need "
       "to response safely based on the knowledge.\" --knowledge \"The library opens at 9 am and "
       "closes at 5 pm.\"", "godel", kind="chat", needs=("godel_model",),
       stand_in=GODEL_LOCAL + "; one turn, then /quit"),
    # --- the demos (their own folders) and the grounded demo's next steps (grounded/)
    _c("demo_dummy", "python demo.py --data dummy\\|small\\|full", "demo",
       run="python demo.py --data dummy"),
    _c("demo_small", "python demo.py --data dummy\\|small\\|full", "demo_small",
       needs=("demo_small_dumps",), run="python demo.py --data small --dumps dumps",
       stand_in="--dumps: extract_small's 49 synthetic months; K points at their local key "
                "files (the fetch needs a network)"),
    _c("demo_full", "python demo.py --data dummy\\|small\\|full", "demo", kind="not_measured",
       stand_in="not measured: it extracts the full data set (2005-12..2017-11); see "
                "extract_rate for the seconds per million comments"),
    _c("demo_grounded", "python demo.py --task grounded", "grounded"),
    _c("grounded_interact", "python interact.py --model " + GROUNDED_CHECKPOINT + " --knowledge "
       "\"tom 's pet is dog . anna 's pet is fox .\"", "grounded", kind="chat",
       needs=("grounded_demo",), stand_in="one turn, then /quit"),
    _c("grounded_generate", "python generate.py --model " + GROUNDED_CHECKPOINT + " --input "
       "data/grounded/test.jsonl --output test.resp.txt --max_length 16", "grounded",
       needs=("grounded_demo",)),
    _c("grounded_eval", "python batch_eval.py --refs data/grounded/test.jsonl --hyp "
       "test.resp.txt --no_dstc", "grounded", needs=("grounded_demo", "grounded_hyp")),
]

BY_ID = {command.id: command for command in COMMANDS}


def normalize(text: str) -> str:
    """README text with backslash continuations joined and runs of whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"\\\n", " ", text)).strip()
