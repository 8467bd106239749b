"""``generate.py``: batch decoding, one response per input line, in input order.

    python generate.py --model models/small --input test.refs.txt --output test.resp.txt
    python generate.py --model configs/117M --init_checkpoint small_ft.pkl --input dev.tsv \\
        --output dev.resp.txt --decoding sample --top_k 20 --mmi_model models/reverse
    python generate.py --model models/godel --input test.jsonl --output test.resp.txt \\
        --preset card

Both model kinds: a causal DialoGPT reads TSV contexts; a seq2seq GODEL model reads GODEL JSON
lines (instruction, knowledge and context per record) or TSV contexts, with ``--instruction`` /
``--knowledge`` as the defaults of records that have none.

The output is a plain file of responses aligned with the input lines, which ``batch_eval.py``
scores directly. A blank context gets an empty response line (counted in the summary) so the
alignment never shifts. Greedy and sampled decoding run every context through the decoding engine
at once, longest first, with at most ``--batch_size`` (default 64) decoding together: a context
joins as soon as another finishes, and nothing is padded. Beam search groups contexts by length
into padded batches of ``--batch_size`` (default 16). The output order is the input order
regardless.
"""

from __future__ import annotations

import logging
import time

from dialogpt.cli import UserError, check_paths, make_parser, setup_logging
from dialogpt.decoding.inputs import INPUT_FORMATS
from dialogpt.decoding.loading import add_grounding_args, add_model_args
from dialogpt.decoding.options import add_decoding_args, parse_with_preset

logger = logging.getLogger(__name__)

DESCRIPTION = """Batch decoding: one response per input line, in input order, for batch_eval.py.

example:
  python generate.py --model models/small --input test.refs.txt --output test.resp.txt
  python generate.py --model configs/117M --init_checkpoint small_ft.pkl --input dev.tsv \\
      --output dev.resp.txt --decoding sample --top_k 20 --mmi_model models/reverse
  python generate.py --model microsoft/GODEL-v1_1-base-seq2seq --input test.jsonl \\
      --output test.resp.txt --preset card"""


def build_parser():
    parser = make_parser("generate.py", DESCRIPTION)
    io = parser.add_argument_group("input and output")
    io.add_argument("--input", required=True,
                    help="TSV (context<TAB>..., turns joined by ' EOS ', weights allowed), a "
                         "test.refs.txt (src<TAB>ref1<TAB>...), or GODEL JSON lines (Context, "
                         "Knowledge, Instruction per record; seq2seq models)")
    io.add_argument("--format", choices=INPUT_FORMATS, default="auto",
                    help="input format; auto: jsonl for .jsonl/.json files, else tsv")
    io.add_argument("--output", required=True,
                    help="responses, one per input line (written atomically)")
    io.add_argument("--batch_size", type=int, default=0,
                    help="contexts decoded together; 0 = 64 for greedy and sampling (the decoding "
                         "engine: a context joins when another finishes, nothing is padded, at "
                         "most 16k cached tokens at once), else 16 (beam search pads a batch to "
                         "its longest context)")
    add_model_args(parser)
    add_decoding_args(parser)
    add_grounding_args(parser)
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


def main(argv=None) -> int:
    args, preset_note = parse_with_preset(build_parser(), argv)
    setup_logging(args.verbose)
    if preset_note:
        logger.info("%s", preset_note)
    if args.batch_size < 0:
        raise UserError("--batch_size must be >= 1 (0 = automatic)")
    check_paths(input_files={"--input": args.input}, output_files={"--output": args.output})
    from dialogpt.decoding.args import decoder_spec, decoding_options

    generate_file(decoder_spec(args), decoding_options(args), args.input, args.output,
                  input_format=args.format, batch_size=args.batch_size,
                  preset=getattr(args, "preset", None))
    return 0


def generate_file(spec, options, input_path: str, output_path: str, *, input_format: str = "auto",
                  batch_size: int = 0, preset: str | None = None) -> None:
    """``generate.py``'s work with a ``DecoderSpec`` and ``DecodingOptions`` (the demo calls
    this): decode every line of ``input_path`` into ``output_path`` (atomically, in input
    order). ``batch_size`` 0: automatic; ``preset`` only words the ignored-settings warning."""
    from tqdm import tqdm

    from dialogpt.decoding.inputs import batches_by_length, one_line, read_dialogs
    from dialogpt.decoding.loading import load_decoder
    from dialogpt.fileio import atomic_write

    dialogs, problems = read_dialogs(input_path, input_format)
    if not dialogs:
        raise UserError(f"--input {input_path} has no lines: nothing to decode (no output "
                        "written)")
    decoder = load_decoder(spec, options, preset)
    if not decoder.seq2seq:
        grounded = [n for n, d in enumerate(dialogs, start=1) if d.knowledge or d.instruction]
        if grounded:
            raise UserError(f"{input_path}:{grounded[0]}: the record has knowledge or an "
                            f"instruction ({len(grounded)} records do), but --model {spec.model} "
                            "is a causal DialoGPT model that reads only the turns: decode with a "
                            "seq2seq (GODEL) model")
    responses = [""] * len(dialogs)
    truncated = 0
    started = time.perf_counter()
    lengths = [sum(map(len, dialog.turns)) + len(dialog.knowledge or "") for dialog in dialogs]
    with tqdm(total=len(dialogs), unit="ctx", desc="decoding", dynamic_ncols=True) as bar:
        if decoder.uses_engine:
            decoder.engine.max_rows = batch_size or 64
            batches = [sorted(range(len(dialogs)), key=lambda i: -lengths[i])]
        else:
            batches = batches_by_length(lengths, batch_size or 16)
        for batch in batches:
            decoded = decoder.respond([dialogs[i].turns for i in batch],
                                      knowledge=[dialogs[i].knowledge for i in batch],
                                      instructions=[dialogs[i].instruction for i in batch],
                                      progress=bar.update if decoder.uses_engine else None)
            for index, response in zip(batch, decoded):
                responses[index] = one_line(response.text)
                truncated += response.context.truncated_for_tokens
            if not decoder.uses_engine:
                bar.update(len(batch))
    elapsed = time.perf_counter() - started
    with atomic_write(output_path) as out:
        out.writelines(f"{response}\n" for response in responses)
    logger.info("wrote %d responses to %s in %.1f s (%.2f responses/s)", len(responses),
                output_path, elapsed, len(responses) / elapsed if elapsed > 0 else 0.0)
    if truncated:
        logger.info("%d contexts were cut to %d tokens to fit the model%s", truncated,
                    decoder.context_budget,
                    " (oldest turns first, then knowledge)" if decoder.seq2seq else "")
    if problems:
        shown = "; ".join(f"line {number}: {reason}" for number, reason in
                          list(problems.items())[:10])
        logger.warning("%d input lines have no usable context and got an empty response line "
                       "(%s%s)", len(problems), shown, "; ..." if len(problems) > 10 else "")
