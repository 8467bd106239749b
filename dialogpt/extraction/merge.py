"""Concatenate monthly instance files into the final TSVs, with a deterministic validation split.

``python -m dialogpt.extraction.merge T/train/conv/*.tsv.gz --train ../data/train.tsv
--valid ../data/valid.tsv --valid_fraction 0.01`` reads the months in the order given and writes
``src<TAB>tgt`` lines (the id column dropped, as ``zcat | cut -f 2-3`` in the original).

The validation split is new (the original has none): a whole thread goes to ``--valid`` when the
sha256 of its submission id (``link_id``, the first id of the line) falls in the first
``valid_fraction`` of the hash range, so no thread is in both files and the split does not depend
on the months or the order. With ``--valid_fraction 0`` (the default) ``--train`` equals the
original's ``train.tsv`` and ``--valid`` is empty. ``--with_ids OUT.tsv.gz`` writes the plain
concatenation, ids kept (the original's ``T/test.tsv.gz``). Outputs are written atomically.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from dialogpt.cli import UserError, check_paths, run_main
from dialogpt.config import build_parser as build_config_parser
from dialogpt.config import flag, parse_config
from dialogpt.fileio import atomic_write


def in_valid_split(link_id: str, fraction: float) -> bool:
    """Whether thread ``link_id`` belongs to the validation split of size ``fraction``."""
    if fraction <= 0:
        return False
    bucket = int.from_bytes(hashlib.sha256(link_id.encode("utf-8")).digest()[:8], "big")
    return bucket < fraction * 2 ** 64


def _lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="\n") as handle:
        for line in handle:
            yield line.rstrip("\n")


def drop_ids(line: str) -> str:
    """``cut -f 2-3``: the second and third tab-separated fields."""
    return "\t".join(line.split("\t")[1:3])


def merge(inputs: list[Path], train: Path | None, valid: Path | None = None,
          valid_fraction: float = 0.0, with_ids: Path | None = None) -> dict[str, int]:
    """Write the merged outputs; returns line counts per output."""
    missing = [str(path) for path in inputs if not path.is_file()]
    if missing:
        raise UserError(f"missing monthly files: {' '.join(missing)}")
    counts = {"train": 0, "valid": 0, "with_ids": 0}
    with contextlib.ExitStack() as stack:
        def open_out(path: Path | None, compressed: bool = False):
            if path is None:
                return None
            handle = stack.enter_context(atomic_write(path, "wb" if compressed else "w",
                                                      newline="\n"))
            if not compressed:
                return handle
            zipped = gzip.GzipFile(fileobj=handle, mode="wb", mtime=0)
            stack.callback(zipped.close)  # runs before the atomic rename
            return zipped
        train_out, valid_out = open_out(train), open_out(valid)
        ids_out = open_out(with_ids, compressed=True)
        for path in inputs:
            for line in _lines(path):
                if ids_out is not None:
                    ids_out.write((line + "\n").encode("utf-8"))
                    counts["with_ids"] += 1
                if train_out is None:
                    continue
                if valid_out is not None and in_valid_split(line.split(",", 1)[0], valid_fraction):
                    valid_out.write(drop_ids(line) + "\n")
                    counts["valid"] += 1
                else:
                    train_out.write(drop_ids(line) + "\n")
                    counts["train"] += 1
    return counts


@dataclass
class MergeConfig:
    """The months' files ``inputs`` -> train/valid TSVs and/or one file with ids."""

    inputs: list[Path] | None = flag(None, "monthly MONTH.tsv.gz files, in order", kind=Path,
                                     nargs="*", positional=True)
    train: Path | None = flag(None, "output src<TAB>tgt lines not in the valid split", kind=Path)
    valid: Path | None = flag(None, "output src<TAB>tgt lines of the valid split", kind=Path)
    valid_fraction: float = flag(0.0, "share of threads (by submission id hash) in --valid",
                                 kind=float)
    with_ids: Path | None = flag(None, "output .tsv.gz of all lines, ids kept", kind=Path)

    def validate(self) -> None:
        if not 0.0 <= self.valid_fraction < 1.0:
            raise UserError("--valid_fraction must be in [0, 1)")
        if self.train is None and self.with_ids is None:
            raise UserError("give --train and/or --with_ids")


def build_parser():
    return build_config_parser(MergeConfig, "python -m dialogpt.extraction.merge", __doc__)


def main(argv=None) -> int:
    config = parse_config(MergeConfig, build_parser(), argv)
    inputs = config.inputs or []
    check_paths(input_files={f"input {i + 1}": path for i, path in enumerate(inputs)},
                output_files={"--train": config.train, "--valid": config.valid,
                              "--with_ids": config.with_ids})
    counts = merge(inputs, config.train, config.valid, config.valid_fraction, config.with_ids)
    print(" ".join(f"{name}={count}" for name, count in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
