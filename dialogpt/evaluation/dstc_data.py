"""DSTC-7 data helpers behind ``dstc/``: the human-response hypothesis and key lists.

    python dstc/extract_human.py --refs test.refs.txt --keys test_real.keys.txt --out human.resp.txt
    python dstc/extract_keys.py --input test.refs.txt --keys keys.2k.txt --out test_real.keys.txt

The human "system" of the DSTC-7 and DialoGPT tables is the reference the scorer skips with
``--vshuman 1``: reference number 1 of each key (counting from 0). Scoring it against the other
references gives the human row.
"""

from __future__ import annotations

from dialogpt.cli import UserError, check_paths, make_parser

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


def extract_human_main(argv=None) -> int:
    parser = make_parser("dstc/extract_human.py", "Write the human responses of the DSTC-7 "
                         "references as a hypothesis file (the 'Human' row of the tables).")
    parser.add_argument("--refs", required=True, help="references (KEY<TAB>score|text<TAB>...)")
    parser.add_argument("--keys", required=True,
                        help="keys, one per line; the output follows their order")
    parser.add_argument("--out", required=True, help="hypothesis file to write (atomically)")
    parser.add_argument("--format", choices=("plain", "dstc"), default="plain",
                        help="plain = one response per line; dstc = 7-column submission")
    parser.add_argument("--human_index", type=int, default=HUMAN_INDEX,
                        help="which reference is the human response (counting from 0)")
    args = parser.parse_args(argv)
    check_paths(input_files={"--refs": args.refs, "--keys": args.keys},
                output_files={"--out": args.out})

    from dialogpt.evaluation.inputs import Diagnostics, read_keys, read_references
    from dialogpt.fileio import atomic_write

    keys = read_keys(args.keys)
    references = read_references(args.refs, set(keys), Diagnostics(), require_scores=False)
    responses = human_responses(references, keys, args.keys, args.human_index)
    with atomic_write(args.out) as handle:
        handle.write(format_responses(keys, responses, args.format))
    print(f"wrote {len(responses)} human responses to {args.out}")
    return 0


def extract_keys_main(argv=None) -> int:
    parser = make_parser("dstc/extract_keys.py", "Write the keys (first TAB column) of a "
                         "references, submission or TSV file, in file order; e.g. the alignment "
                         "keys of responses decoded from that file.")
    parser.add_argument("--input", required=True, help="file whose first column holds keys")
    parser.add_argument("--keys", default=None, help="keep only keys listed in this file")
    parser.add_argument("--out", required=True, help="keys file to write (atomically)")
    args = parser.parse_args(argv)
    check_paths(input_files={"--input": args.input, "--keys": args.keys},
                output_files={"--out": args.out})

    from dialogpt.evaluation.inputs import read_keys
    from dialogpt.fileio import atomic_write

    keys = read_keys(args.input)
    if args.keys:
        wanted = set(read_keys(args.keys))
        keys = [key for key in keys if key in wanted]
    with atomic_write(args.out) as handle:
        handle.write("".join(f"{key}\n" for key in keys))
    print(f"wrote {len(keys)} keys to {args.out}")
    return 0
