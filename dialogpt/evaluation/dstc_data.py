"""DSTC-7 data helpers behind ``dstc/``: the human-response hypothesis and key lists.

    python dstc/extract_human.py --refs test.refs.txt --keys test_real.keys.txt --out human.resp.txt
    python dstc/extract_keys.py --input test.refs.txt --keys keys.2k.txt --out test_real.keys.txt

The human "system" of the DSTC-7 and DialoGPT tables is the reference the scorer skips with
``--vshuman 1``: reference number 1 of each key (counting from 0). Scoring it against the other
references gives the human row.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialogpt.cli import UserError, check_paths
from dialogpt.config import build_parser, flag, parse_config

HUMAN_INDEX = 1
_PLACEHOLDER_COLUMNS = 5  # the DSTC-7 submission's columns between the key and the response


def human_responses(references, keys: list[str], keys_path: str,
                    human_index: int = HUMAN_INDEX) -> list[str]:
    """Reference ``human_index`` of every key, in ``keys`` order (score prefixes removed)."""
    responses = []
    for number, key in enumerate(keys, start=1):
        refs = references.texts.get(key)
        if refs is None:
            raise UserError(f"{keys_path}:{number}: key {key} is not in {references.path}")
        if len(refs) <= human_index:
            line = references.line_of[key]
            raise UserError(f"{references.path}:{line}: key {key} has {len(refs)} references, "
                            f"so no reference number {human_index} (counting from 0)")
        responses.append(refs[human_index])
    return responses


def format_responses(keys: list[str], responses: list[str], fmt: str) -> str:
    """``plain``: one response per line; ``dstc``: the 7-column submission format."""
    if fmt == "plain":
        return "".join(f"{response}\n" for response in responses)
    placeholders = "\t".join(["-"] * _PLACEHOLDER_COLUMNS)
    return "".join(f"{key}\t{placeholders}\t{response}\n" for key, response in zip(keys, responses))


@dataclass(kw_only=True)
class HumanConfig:
    """``dstc/extract_human.py``: the human reference of each key -> a hypothesis file."""

    refs: str = flag(help="references (KEY<TAB>score|text<TAB>...)")
    keys: str = flag(help="keys, one per line; the output follows their order")
    out: str = flag(help="hypothesis file to write (atomically)")
    format: str = flag("plain", "plain = one response per line; dstc = 7-column submission",
                       choices=("plain", "dstc"))
    human_index: int = flag(HUMAN_INDEX, "which reference is the human response (counting "
                            "from 0)", kind=int)


def extract_human_main(argv=None) -> int:
    config = parse_config(HumanConfig, build_parser(
        HumanConfig, "dstc/extract_human.py", "Write the human responses of the DSTC-7 "
        "references as a hypothesis file (the 'Human' row of the tables)."), argv)
    check_paths(input_files={"--refs": config.refs, "--keys": config.keys},
                output_files={"--out": config.out})

    from dialogpt.evaluation.inputs import Diagnostics, read_keys, read_references
    from dialogpt.fileio import atomic_write

    keys = read_keys(config.keys)
    references = read_references(config.refs, set(keys), Diagnostics(), require_scores=False)
    responses = human_responses(references, keys, config.keys, config.human_index)
    with atomic_write(config.out) as handle:
        handle.write(format_responses(keys, responses, config.format))
    print(f"wrote {len(responses)} human responses to {config.out}")
    return 0


@dataclass(kw_only=True)
class KeysConfig:
    """``dstc/extract_keys.py``: the keys of a file (those listed in ``keys``) -> ``out``."""

    input: str = flag(help="file whose first column holds keys")
    keys: str | None = flag(None, "keep only keys listed in this file")
    out: str = flag(help="keys file to write (atomically)")


def extract_keys_main(argv=None) -> int:
    config = parse_config(KeysConfig, build_parser(
        KeysConfig, "dstc/extract_keys.py", "Write the keys (first TAB column) of a references, "
        "submission or TSV file, in file order; e.g. the alignment keys of responses decoded "
        "from that file."), argv)
    check_paths(input_files={"--input": config.input, "--keys": config.keys},
                output_files={"--out": config.out})

    from dialogpt.evaluation.inputs import read_keys
    from dialogpt.fileio import atomic_write

    keys = read_keys(config.input)
    if config.keys:
        wanted = set(read_keys(config.keys))
        keys = [key for key in keys if key in wanted]
    with atomic_write(config.out) as handle:
        handle.write("".join(f"{key}\n" for key in keys))
    print(f"wrote {len(keys)} keys to {config.out}")
    return 0
