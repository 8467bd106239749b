"""Conversation step core: kept comments of one split -> training/test instances (pure logic).

For every comment, in ``(link_id, parent_id, comment_id)`` order, that may be a target (its
``keep`` key exists, it is a leaf on the leaves-only side, its subreddit is not blocked, its score
(null = 0) reaches ``min_score``), the parent chain is walked up: at most ``max_depth`` turns, a
turn of more than ``max_len`` words ends the chain (no instance if it is the target), a missing
parent ends it. Chains shorter than ``min_depth`` are dropped; the rest are normalised, weighted
and filtered (spec: docs/spec/extraction.md, "Conversation step").

Every comment is normalised and weighted at most once (``_TurnCache``); the original
re-normalised every turn of every instance, which was most of its run time. Instance filters
that look at the whole ``src + " " + tgt`` string are evaluated per turn and OR-ed: joining turns
with ``" EOS "`` can neither create nor break a bracket, a ``__url__`` or a run of 5 capitals.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from typing import Iterator, Mapping, NamedTuple

from dialogpt.blocklist import WordBlocklist
from dialogpt.extraction.keys import TaggedKeys, turn_digest
from dialogpt.extraction.normalize import URL_TOKEN, gpt_norm
from dialogpt.extraction.records import Comment, Submission, SUBMISSION_TAG, subreddit_of

MAX_TARGET_WORD_CHARS = 30
MAX_INSTANCE_TOKENS = 200
_URL_RE = re.compile(re.escape(URL_TOKEN))
_BRACKET_RE = re.compile(r"[\[\]()]")
_CAPS_RE = re.compile(r"[A-Z][A-Z]{4,}")  # = [A-Z]{5,}; a leading class scans faster
# Normalised turns separate their tokens by single spaces, so " " stands for any whitespace.
_LONG_WORD_RE = re.compile("[^ ]{%d}" % (MAX_TARGET_WORD_CHARS + 1))
_REPEATED_RE = re.compile(r"(?<![^ ])([^ ]+) \1 \1(?![^ ])")  # a token three times in a row


@dataclass(frozen=True)
class ConvOptions:
    """Settings of the conversation step (defaults: configs/Makefile.local of the original)."""

    min_depth: int = 2
    max_depth: int = 5
    min_score: int = 1
    max_len: int = 30
    use_title: bool = False
    leaves_only: bool = True
    clean: bool = True


@dataclass
class ConvFilters:
    """Key and list based filters; ``None`` means not in use."""

    keep_keys: set[str] | TaggedKeys | None = None
    """``link_id<TAB>comment_id`` pairs whose comment may be a target."""
    discard_hashes: set[str] | None = None
    words: WordBlocklist | None = None
    subreddits: set[str] | None = None


@dataclass
class ConvStats:
    candidates: int = 0
    instances: int = 0
    target_tokens: int = 0
    context_turns: int = 0
    context_tokens: int = 0
    skipped: Counter = field(default_factory=Counter)

    def add(self, other: "ConvStats") -> None:
        for name in ("candidates", "instances", "target_tokens", "context_turns", "context_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.skipped.update(other.skipped)


URL_FLAG, BRACKET_FLAG, CAPS_FLAG = 1, 2, 4


class Turn(NamedTuple):
    """A normalised turn (weight prefix included where weights are used) and its flags:
    ``URL_FLAG`` (holds ``__url__``), ``BRACKET_FLAG`` (``[]()``), ``CAPS_FLAG`` (5 capitals)."""

    text: str
    n_tokens: int
    flags: int


Target = tuple[str, str, str, list[tuple[str, str]]]
"""``(link_id, parent_id, comment_id, chain)``: a target that passed its checks, its chain
as :meth:`ThreadBuilder.chain` gives it."""


class _TurnCache:
    """Normalised, weighted and flagged turns by cache key (comment id, or link id for titles)."""

    def __init__(self, options: ConvOptions, filters: ConvFilters):
        self._weighted = options.leaves_only and options.clean
        self._discard = filters.discard_hashes
        self._words = filters.words
        self.turns: dict[str, Turn] = {}

    def fill(self, targets: list[Target]) -> dict[str, Turn]:
        """Make every turn of ``targets``' chains that is not cached yet; returns the cache."""
        turns, new = self.turns, {}
        for target in targets:
            for key, raw in target[3]:
                if key not in turns:
                    new[key] = raw
        if not new:
            return turns
        texts = list(map(gpt_norm, new.values()))
        # gpt_norm joins its tokens with single spaces
        counts = [text.count(" ") + 1 if text else 0 for text in texts]
        if self._weighted:
            texts = [("0.0 " if self._blocked(text) else "1.0 ") + text for text in texts]
            counts = [count + 1 for count in counts]
        turns.update(zip(new, map(_tuple_new, repeat(Turn),
                                  zip(texts, counts, _flags(texts)))))
        return turns

    def _blocked(self, text: str) -> bool:
        return ((self._discard is not None and turn_digest(text) in self._discard)
                or (self._words is not None and self._words.matches(text)))


_tuple_new = tuple.__new__  # Turn(...) without its Python-level __new__


def _flags(texts: list[str]) -> list[int]:
    """The flags of each text (texts hold no newline), found in one pass over all of them:
    flagged texts are few, so the regex scans of the joined text cost less than a search per
    text."""
    flags = [0] * len(texts)
    joined = "\n".join(texts)
    starts = [total + i for i, total in enumerate(accumulate(map(len, texts), initial=0))]
    for flag, pattern in ((URL_FLAG, _URL_RE), (BRACKET_FLAG, _BRACKET_RE), (CAPS_FLAG, _CAPS_RE)):
        search, at = pattern.search, 0
        while (match := search(joined, at)) is not None:
            i = bisect_right(starts, match.start()) - 1
            flags[i] |= flag
            at = starts[i + 1] if i + 1 < len(starts) else len(joined)
    return flags


def _chain(comments: Mapping[str, Comment], submissions: Mapping[str, Submission],
           comment_id: str, max_depth: int, max_len: int, use_title: bool
           ) -> list[tuple[str, str]] | None:
    """:meth:`ThreadBuilder.chain`, its settings passed in (called once per candidate)."""
    # More than max_len words take at least 2 * max_len + 1 characters: shorter bodies need no
    # split (most of them).
    short = 2 * max_len
    turns: list[tuple[str, str]] = []
    current, comment, depth = comment_id, comments[comment_id], max_depth
    while depth > 0:
        parent, link_id, _, body = comment
        if len(body) > short and len(body.split()) > max_len:
            break
        turns.append((current, body))
        if use_title and parent.startswith(SUBMISSION_TAG):
            submission = submissions.get(link_id)
            if submission is None:
                return None
            turns.append((link_id, "title: " + submission.title))
            break
        comment = comments.get(parent)
        if comment is None:
            break
        current, depth = parent, depth - 1
    turns.reverse()
    return turns


class ThreadBuilder:
    """Builds the instances of one split (its submissions and comments, loaded in memory).

    :meth:`targets` runs every check that looks at one target and its chain, over the comments
    in any order, and sorts only the survivors; :meth:`build` normalises and filters them.
    """

    def __init__(self, submissions: Mapping[str, Submission], comments: Mapping[str, Comment],
                 options: ConvOptions, filters: ConvFilters):
        self.submissions, self.comments = submissions, comments
        self.options, self.filters = options, filters
        self._turns = _TurnCache(options, filters)
        self.parents: set[str] = ({c.parent_id for c in comments.values()}
                                  if options.leaves_only else set())

    def chain(self, comment_id: str) -> list[tuple[str, str]] | None:
        """``(cache key, raw text)`` of the turns ending at ``comment_id``, oldest first.

        None when the chain needs the title of a submission that is not loaded.
        """
        options = self.options
        return _chain(self.comments, self.submissions, comment_id, options.max_depth,
                      options.max_len, options.use_title)

    def _target_skip_rest(self, link_id: str, comment_id: str) -> str | None:
        """The target checks after the key and leaf checks: subreddit, then score."""
        filters, options = self.filters, self.options
        if filters.subreddits is not None:
            subreddit = subreddit_of(self.submissions.get(link_id))
            if not subreddit:
                return "missing_submission"
            if subreddit in filters.subreddits:
                return "blocked_subreddit"
        raw_score = self.comments[comment_id].score
        try:
            score = 0 if raw_score == "None" else int(raw_score)
        except ValueError:
            return "bad_score"
        if score < options.min_score:
            return "low_score"
        return None

    def targets(self, stats: ConvStats) -> list[Target]:
        """Every comment that passes the target checks and has a long enough chain, as
        ``(link_id, parent_id, comment_id, chain)`` sorted by ids: the output order.

        In order: the ``keep`` key, leaf, subreddit and score checks (inlined: this loop sees
        every comment), then :meth:`chain`; skips are counted in ``stats``.
        """
        keep_keys, parents, comments = self.filters.keep_keys, self.parents, self.comments
        suffix = ""  # keep_keys as lines ending with the tag: each pair is tested as its line
        if isinstance(keep_keys, TaggedKeys):
            keep_keys, suffix = keep_keys.lines, keep_keys.suffix
        submissions, options = self.submissions, self.options
        min_depth, min_score = options.min_depth, options.min_score
        max_depth, max_len, use_title = options.max_depth, options.max_len, options.use_title
        check_subreddit = self.filters.subreddits is not None
        skipped, candidates = stats.skipped, 0
        not_in_keys = not_leaf = low_score = min_depth_skips = 0  # the commonest, in locals
        found: list[Target] = []
        for comment_id, (parent_id, link_id, raw_score, _) in comments.items():
            if keep_keys is not None and f"{link_id}\t{comment_id}{suffix}" not in keep_keys:
                not_in_keys += 1
                continue
            if comment_id in parents:
                not_leaf += 1
                continue
            if check_subreddit:
                reason = self._target_skip_rest(link_id, comment_id)
                if reason is not None:
                    skipped[reason] += 1
                    continue
            else:  # _target_skip_rest without the subreddit check, inlined
                try:
                    score = 0 if raw_score == "None" else int(raw_score)
                except ValueError:
                    skipped["bad_score"] += 1
                    continue
                if score < min_score:
                    low_score += 1
                    continue
            candidates += 1
            chain = _chain(comments, submissions, comment_id, max_depth, max_len, use_title)
            if chain is None:
                skipped["missing_submission"] += 1
            elif len(chain) < min_depth:
                min_depth_skips += 1
            else:
                found.append((link_id, parent_id, comment_id, chain))
        stats.candidates += candidates
        for reason, count in (("not_in_keys", not_in_keys), ("not_leaf", not_leaf),
                              ("low_score", low_score), ("min_depth", min_depth_skips)):
            if count:
                skipped[reason] += count
        found.sort()  # comment ids are unique: the chains are never compared
        return found

    def _instance_skip(self, target: Turn, n_context: int, context_tokens: int, flags: int
                       ) -> str | None:
        """The original's instance filters, in its order (tokens: the words of ``.text``);
        ``n_context`` context turns hold ``context_tokens`` tokens and ``flags`` (target's
        included)."""
        text, words = target.text, self.filters.words
        if words is not None and not self.options.leaves_only and words.matches(text):
            return "offensive"
        if target.n_tokens <= 1:
            return "empty_target"
        if _LONG_WORD_RE.search(text):
            return "long_word"
        # the " EOS " joints count as tokens
        if context_tokens + max(n_context - 1, 0) + target.n_tokens > MAX_INSTANCE_TOKENS:
            return "too_long"
        if flags:  # the first reason in the original's order: url, brackets, all_caps
            return "url" if flags & URL_FLAG else "brackets" if flags & BRACKET_FLAG else \
                "all_caps"
        if _REPEATED_RE.search(text):
            return "repetitions"
        return None

    def build(self, targets: list[Target], stats: ConvStats) -> Iterator[str]:
        """Yield the output lines ``link_id,parent_id,comment_id<TAB>src<TAB>tgt`` of
        ``targets`` (from :meth:`targets`, or a slice of it)."""
        clean, skip = self.options.clean, self._instance_skip
        cache = self._turns.fill(targets)
        skipped = stats.skipped
        instances = target_tokens = context_turns = all_context_tokens = 0  # locals: hot loop
        try:
            for link_id, parent_id, comment_id, chain in targets:
                target = cache[chain[-1][0]]
                texts, context_tokens, flags = [], 0, target.flags
                for key, _ in chain[:-1]:
                    text, n_tokens, turn_flags = cache[key]
                    texts.append(text)
                    context_tokens += n_tokens
                    flags |= turn_flags
                if clean:
                    reason = skip(target, len(texts), context_tokens, flags)
                    if reason is not None:
                        skipped[reason] += 1
                        continue
                instances += 1
                target_tokens += target.n_tokens
                context_turns += len(texts)
                all_context_tokens += context_tokens
                src = " EOS ".join(texts)
                yield f"{link_id},{parent_id},{comment_id}\t{src}\t{target.text}"
        finally:
            stats.instances += instances
            stats.target_tokens += target_tokens
            stats.context_turns += context_turns
            stats.context_tokens += all_context_tokens
