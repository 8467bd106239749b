"""Deterministic synthetic Reddit dumps (and key files): a fixture for tests and benchmarks.

No stage of the pipeline imports it at run time (nor does the demo); it sits in the package so
that ``tests/extraction`` and ``benchmarks/bench_extract.py`` share one generator.

``write_synthetic_month(dumps_dir, "2011-01", n_submissions=200, seed=0)`` writes
``RS_2011-01.zst`` and ``RC_2011-01.zst`` in the pushshift layout: threads of comments with
random reply trees and text that triggers every extraction rule now and then (quotes, URLs,
hashtags, abbreviations, brackets, capitals, repetitions, over-long turns and words, non-ASCII,
``[deleted]``/``[removed]``). With ``messy=True`` (default) the files also hold what real dumps
hold: malformed JSON lines, missing fields, null/negative/string scores, string ``created_utc``,
duplicate lines, comments of unknown submissions and replies to missing parents.

``write_synthetic_keys(keys_dir, month, dumps_dir, seed)`` writes ``K/MONTH.gz`` (``dep`` and
``keep`` lines for a random share of the comments) and ``K/MONTH-o.gz`` (discard hashes of a
few normalised comments), in the released key files' format.

The same arguments always give the same bytes (for ``.zst`` and plain files; gzip headers hold no
time stamp here either).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
from dataclasses import dataclass
from pathlib import Path

import orjson

_WORDS = (
    "the a to and of i you it that is in this for was on my with but not be have are just like "
    "so what they if do your at can all about one would get or people think me from he an we "
    "know there more good time out really no up will how when don't it's i'm them some also "
    "thing because even make want see go any much well way only right still never need sure got "
    "great pretty lot yeah thanks love game back day first work new world years best last man "
    "guy movie book music song play team city car house dog cat food water coffee beer school "
    "money life friend story idea point question answer problem reason place part hand eye night "
    "always maybe actually probably exactly totally agree disagree funny awesome terrible nice "
    "cool weird crazy happy sad true false wrong better worse bigger smaller old young long short"
).split()
_SUBREDDITS = ("AskReddit", "funny", "pics", "science", "programming", "gaming", "politics",
               "worldnews", "movies", "Music", "badplace")
_SPECIALS = (
    "> quoted text here", "&gt; quoted", "check http://example.com/page out", "see https://x.y",
    "#hashtag rocks", "b/c it is", "w/ you", "w/o doubt", "j/k lol", "WHAT IS THIS", "(aside)",
    "[link]", "no no no no", "a" * 35, "café naïve über", "emoji 😀 here", "日本語 text",
    "MENTION me", "the URL is", "back\\slash", "line\nbreak\ttab", "at 8:30 or 10:30",
    "call 555 1234 now", "e.g. this", "Mr.Smith said", "wait.....", "“quoted” words",
    "I can't won't", "x :D :p", "r/ something", "ok!!!!", "1.5 million", "reddit.com rocks",
)


@dataclass
class SyntheticMonth:
    rs_path: Path
    rc_path: Path
    n_submissions: int
    n_comments: int


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def _sentence(rng: random.Random, specials: bool) -> str:
    roll = rng.random()
    if specials and roll < 0.03:
        return rng.choice(("[deleted]", "[removed]", "ok", ""))
    n_words = rng.choice((2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25)) if roll < 0.97 else 35
    words = [rng.choice(_WORDS) for _ in range(n_words)]
    if specials and rng.random() < 0.25:
        words.insert(rng.randrange(len(words) + 1), rng.choice(_SPECIALS))
    text = " ".join(words)
    text = text[0].upper() + text[1:] if text else text
    return text + rng.choice((".", "!", "?", "", "...", ","))


def _opener(path: Path, compression: str):
    if compression == "zst":
        import zstandard
        raw = open(path, "wb")
        return zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=True)
    if compression == "bz2":
        return bz2.open(path, "wb")
    if compression == "xz":
        return lzma.open(path, "wb")
    if compression == "gz":
        return gzip.GzipFile(path, "wb", mtime=0)
    if compression == "":
        return open(path, "wb")
    raise ValueError(f"unknown compression {compression!r} (zst, bz2, xz, gz or '')")


def _write(path: Path, lines: list[bytes], compression: str) -> None:
    with _opener(path, compression) as handle:
        for start in range(0, len(lines), 10_000):
            handle.write(b"".join(line + b"\n" for line in lines[start:start + 10_000]))


def _month_epoch(month: str) -> int:
    import calendar
    year, mon = map(int, month.split("-"))
    return calendar.timegm((year, mon, 1, 0, 0, 0))


def write_synthetic_month(dumps_dir: str | Path, month: str, n_submissions: int, seed: int = 0,
                          compression: str = "zst", comments_per_submission: float = 6.0,
                          messy: bool = True) -> SyntheticMonth:
    """Write ``RS_{month}`` and ``RC_{month}`` dumps; see the module docstring."""
    rng = random.Random(f"{seed}-{month}")
    dumps_dir = Path(dumps_dir)
    dumps_dir.mkdir(parents=True, exist_ok=True)
    epoch = _month_epoch(month)
    base = (int(month.replace("-", "")) % 10_000) * 1_000_000
    submissions, comments = [], []
    next_comment = base
    for index in range(n_submissions):
        sid = _base36(base + index)
        subreddit = rng.choice(_SUBREDDITS)
        n_comments = min(int(rng.expovariate(1 / comments_per_submission)), 60)
        thread: list[str] = []
        for _ in range(n_comments):
            cid = _base36(next_comment)
            next_comment += 1
            parent = ("t1_" + rng.choice(thread[-8:])
                      if thread and rng.random() < 0.75 else "t3_" + sid)
            score = rng.choice((1, 1, 2, 3, 5, 10, 0, -2)) if rng.random() < 0.95 else None
            comments.append({"id": cid, "author": f"user{rng.randrange(500)}", "link_id": "t3_" + sid,
                             "parent_id": parent, "score": score, "body": _sentence(rng, True),
                             "created_utc": epoch + rng.randrange(86400 * 28),
                             "subreddit": subreddit})
            thread.append(cid)
        submission = {"id": sid, "score": rng.randrange(1, 500), "num_comments": n_comments,
                      "domain": rng.choice(("self." + subreddit, "i.imgur.com", "youtube.com")),
                      "permalink": f"/r/{subreddit}/comments/{sid}/thread_{index}/",
                      "title": _sentence(rng, False), "created_utc": epoch + index,
                      "subreddit": subreddit}
        submissions.append(submission)
    if messy:
        _add_mess(rng, submissions, comments, epoch)
    rng.shuffle(comments)
    rs_lines = [record if isinstance(record, bytes) else orjson.dumps(record)
                for record in submissions]
    rc_lines = [record if isinstance(record, bytes) else orjson.dumps(record)
                for record in comments]
    if messy:  # duplicate lines, as real dumps have
        rc_lines += rng.sample(rc_lines, k=len(rc_lines) // 50)
        rs_lines += rng.sample(rs_lines, k=len(rs_lines) // 50)
    suffix = f".{compression}" if compression else ""
    rs_path, rc_path = dumps_dir / f"RS_{month}{suffix}", dumps_dir / f"RC_{month}{suffix}"
    _write(rs_path, rs_lines, compression)
    _write(rc_path, rc_lines, compression)
    return SyntheticMonth(rs_path, rc_path, len(rs_lines), len(rc_lines))


def _add_mess(rng: random.Random, submissions: list, comments: list, epoch: int) -> None:
    """Damage a few records the ways real dumps are damaged."""
    for submission in rng.sample(submissions, k=len(submissions) // 40):
        choice = rng.randrange(4)
        if choice == 0:
            del submission["num_comments"]
        elif choice == 1:
            submission["num_comments"] = str(submission["num_comments"])
        elif choice == 2:
            submission["created_utc"] = str(submission["created_utc"])
        else:
            submission["title"] = ""
    for comment in rng.sample(comments, k=len(comments) // 25):
        choice = rng.randrange(8)
        if choice == 0:
            del comment[rng.choice(("body", "author", "score", "parent_id"))]
        elif choice == 1:
            comment["score"] = str(comment["score"]) if comment["score"] is not None else "None"
        elif choice == 2:
            comment["created_utc"] = str(comment["created_utc"])
        elif choice == 3:
            comment["link_id"] = "t3_zz" + comment["id"]  # orphan link_id
        elif choice == 4:
            comment["parent_id"] = "t1_zz" + comment["id"]  # missing parent
        elif choice == 5:
            comment["score"] = -abs(comment["score"] or 0) - 1
        elif choice == 6:
            comment["body"] = "Ünïcödé ✓ " + comment.get("body", "")
        else:
            comment["body"] = None
    comments.append(b'{"id": "broken", "body": "unterminated')
    comments.append(b"not json at all")
    comments.append(b"[1, 2, 3]")
    submissions.append(b'{"id": "brokensub", ')
    submissions.append({"id": "lonely", "num_comments": 1, "score": 1, "domain": "x",
                        "permalink": "/r/x/comments/lonely/", "title": "alone",
                        "created_utc": epoch})


def write_synthetic_keys(keys_dir: str | Path, month: str, dumps_dir: str | Path, seed: int = 0,
                         dep_fraction: float = 0.9, keep_fraction: float = 0.85,
                         discard_fraction: float = 0.05) -> tuple[Path, Path]:
    """Write ``K/{month}.gz`` and ``K/{month}-o.gz`` for the comments of the month's RC dump."""
    from dialogpt.extraction.normalize import gpt_norm, minimal_norm
    from dialogpt.extraction.keys import turn_digest
    from dialogpt.extraction.readers import find_dump, iter_lines

    rng = random.Random(f"keys-{seed}-{month}")
    key_lines, digests = [], []
    for line in iter_lines(find_dump(dumps_dir, "RC", month)):
        try:
            record = orjson.loads(line)
            link_id, cid, body = record["link_id"], "t1_" + record["id"], record["body"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue
        if rng.random() < dep_fraction:
            key_lines.append(f"{link_id}\t{cid}\tdep")
        if rng.random() < keep_fraction:
            key_lines.append(f"{link_id}\t{cid}\tkeep")
        if isinstance(body, str) and rng.random() < discard_fraction:
            digests.append(turn_digest(gpt_norm(minimal_norm(body))))
    digests.append("0" * 56)
    keys_dir = Path(keys_dir)
    keys_dir.mkdir(parents=True, exist_ok=True)
    keys_path, discard_path = keys_dir / f"{month}.gz", keys_dir / f"{month}-o.gz"
    with gzip.GzipFile(keys_path, "wb", mtime=0) as handle:
        handle.write("".join(line + "\n" for line in key_lines).encode())
    with gzip.GzipFile(discard_path, "wb", mtime=0) as handle:
        handle.write("".join(digest + "\n" for digest in digests).encode())
    return keys_path, discard_path
