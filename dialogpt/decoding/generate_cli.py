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
from dataclasses import dataclass

from dialogpt.cli import UserError, check_paths, setup_logging
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import flag, section
from dialogpt.decoding.decoder_config import DecoderConfig, parse_with_preset
from dialogpt.decoding.inputs import INPUT_FORMATS
from dialogpt.decoding.loading import Grounding

logger = logging.getLogger(__name__)

DESCRIPTION = """Batch decoding: one response per input line, in input order, for batch_eval.py.

example:
  python generate.py --model models/small --input test.refs.txt --output test.resp.txt
  python generate.py --model configs/117M --init_checkpoint small_ft.pkl --input dev.tsv \\
      --output dev.resp.txt --decoding sample --top_k 20 --mmi_model models/reverse
  python generate.py --model microsoft/GODEL-v1_1-base-seq2seq --input test.jsonl \\
      --output test.resp.txt --preset card"""


_IO = "input and output"


@dataclass(frozen=True, kw_only=True)
class GenerateConfig:
    """Everything ``generate.py`` is told: its files, the decoder's flags, logging."""

    input: str = flag(help="TSV (context<TAB>..., turns joined by ' EOS ', weights allowed), a "
                      "test.refs.txt (src<TAB>ref1<TAB>...), or GODEL JSON lines (Context, "
                      "Knowledge, Instruction per record; seq2seq models)", group=_IO)
    format: str = flag("auto", "input format; auto: jsonl for .jsonl/.json files, else tsv", _IO,
                       choices=INPUT_FORMATS)
    output: str = flag(help="responses, one per input line (written atomically)", group=_IO)
    batch_size: int = flag(0, "contexts decoded together; 0 = 64 for greedy and sampling (the "
                           "decoding engine: a context joins when another finishes, nothing is "
                           "padded, at most 16k cached tokens at once), else 16 (beam search "
                           "pads a batch to its longest context)", _IO, kind=int)
    decoder: DecoderConfig = section(DecoderConfig)
    verbose: bool = flag(False, "debug logging", const=True)

    def validate(self) -> None:
        if self.batch_size < 0:
            raise UserError("--batch_size must be >= 1 (0 = automatic)")


def build_parser():
    return build_config_parser(GenerateConfig, "generate.py", DESCRIPTION)


def main(argv=None) -> int:
    config = parse_with_preset(GenerateConfig, build_parser(), argv)
    setup_logging(config.verbose)
    decoder = config.decoder
    note = decoder.preset_note()
    if note:
        logger.info("%s", note)
    check_paths(input_files={"--input": config.input}, output_files={"--output": config.output})
    generate_file(decoder.spec, decoder.options, config.input, config.output,
                  input_format=config.format, batch_size=config.batch_size,
                  preset=decoder.preset, grounding=decoder.grounding)
    return 0


def generate_file(spec, options, input_path: str, output_path: str, *, input_format: str = "auto",
                  batch_size: int = 0, preset: str | None = None,
                  grounding: Grounding = Grounding()) -> None:
    """``generate.py``'s work with a ``DecoderSpec``, ``DecodingOptions`` and ``Grounding`` (the
    demo calls this): decode every line of ``input_path`` into ``output_path`` (atomically, in
    input order). ``batch_size`` 0: automatic; ``preset`` only words the ignored-settings
    warning."""
    from tqdm import tqdm

    from dialogpt.decoding.inputs import batches_by_length, one_line, read_dialogs
    from dialogpt.decoding.loading import load_decoder
    from dialogpt.fileio import atomic_write

    dialogs, problems = read_dialogs(input_path, input_format)
    if not dialogs:
        raise UserError(f"--input {input_path} has no lines: nothing to decode (no output "
                        "written)")
    decoder = load_decoder(spec, options, preset, grounding)
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
