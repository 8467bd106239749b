"""Conversation step core: kept comments of one split -> training/test instances (pure logic).

For every comment, in ``(link_id, parent_id, comment_id)`` order, that may be a target (its
``keep`` key exists, it is a leaf on the leaves-only side, its subreddit is not blocked, its score
(null = 0) reaches ``min_score``), the parent chain is walked up: at most ``max_depth`` turns, a
turn of more than ``max_len`` words ends the chain (no instance if it is the target), a missing
parent ends it. Chains shorter than ``min_depth`` are dropped; the rest are normalised, weighted
and filtered (spec: extraction.md, "Conversation step").

Every comment is normalised and weighted at most once (``_TurnCache``); the original
re-normalised every turn of every instance, which was most of its run time. Instance filters
that look at the whole ``src + " " + tgt`` string are evaluated per turn and OR-ed: joining turns
with ``" EOS "`` can neither create nor break a bracket, a ``__url__`` or a run of 5 capitals.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator, Mapping, NamedTuple

from dialogpt.extraction.keys import WordBlocklist, turn_digest
from dialogpt.extraction.normalize import URL_TOKEN, gpt_norm
from dialogpt.extraction.records import Comment, Submission, SUBMISSION_TAG, subreddit_of

MAX_TARGET_WORD_CHARS = 30
MAX_INSTANCE_TOKENS = 200
_BRACKET_RE = re.compile(r"[\[\]()]")
_CAPS_RE = re.compile(r"[A-Z]{5,}")


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

    keep_keys: set[str] | None = None
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


class _TurnCache:
    def __init__(self, options: ConvOptions, filters: ConvFilters):
        self._weighted = options.leaves_only and options.clean
        self._discard = filters.discard_hashes
        self._words = filters.words
        self._turns: dict[str, Turn] = {}

    def get(self, key: str, raw: str) -> Turn:
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = self._make(raw)
        return turn

    def _make(self, raw: str) -> Turn:
        text = gpt_norm(raw)
        if self._weighted:
            blocked = ((self._discard is not None and turn_digest(text) in self._discard)
                       or (self._words is not None and self._words.matches(text)))
            text = ("0.0 " if blocked else "1.0 ") + text
        flags = ((URL_FLAG if URL_TOKEN in text else 0)
                 | (BRACKET_FLAG if _BRACKET_RE.search(text) else 0)
                 | (CAPS_FLAG if _CAPS_RE.search(text) else 0))
        return Turn(text, len(text.split()), flags)


def sorted_ids(comments: Mapping[str, Comment]) -> list[tuple[str, str, str]]:
    """``(link_id, parent_id, comment_id)`` of every comment, sorted: the output order."""
    ids = [(c.link_id, c.parent_id, cid) for cid, c in comments.items()]
    ids.sort()
    return ids


class ThreadBuilder:
    """Builds the instances of one split (its submissions and comments, loaded in memory)."""

    def __init__(self, submissions: Mapping[str, Submission], comments: Mapping[str, Comment],
                 options: ConvOptions, filters: ConvFilters):
        self.submissions, self.comments = submissions, comments
        self.options, self.filters = options, filters
        self._turns = _TurnCache(options, filters)
        self.parents: set[str] = ({c.parent_id for c in comments.values()}
                                  if options.leaves_only else set())
        self._too_long: dict[str, bool] = {}  # comment id -> more than max_len words

    def chain(self, comment_id: str) -> list[tuple[str, str]] | None:
        """``(cache key, raw text)`` of the turns ending at ``comment_id``, oldest first.

        None when the chain needs the title of a submission that is not loaded.
        """
        options, comments = self.options, self.comments
        turns: list[tuple[str, str]] = []
        current, depth = comment_id, options.max_depth
        too_long = self._too_long
        while depth > 0:
            comment = comments[current]
            long_body = too_long.get(current)
            if long_body is None:
                long_body = too_long[current] = len(comment.body.split()) > options.max_len
            if long_body:
                break
            turns.append((current, comment.body))
            parent = comment.parent_id
            if options.use_title and parent.startswith(SUBMISSION_TAG):
                submission = self.submissions.get(comment.link_id)
                if submission is None:
                    return None
                turns.append((comment.link_id, "title: " + submission.title))
                break
            if parent not in comments:
                break
            current, depth = parent, depth - 1
        turns.reverse()
        return turns

    def _target_skip(self, link_id: str, comment_id: str) -> str | None:
        filters = self.filters
        if filters.keep_keys is not None and f"{link_id}\t{comment_id}" not in filters.keep_keys:
            return "not_in_keys"
        if comment_id in self.parents:
            return "not_leaf"
        return self._target_skip_rest(link_id, comment_id)

    def _target_skip_rest(self, link_id: str, comment_id: str) -> str | None:
        """The checks of :meth:`_target_skip` after the key and leaf checks."""
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

    def _instance_skip(self, context: list[Turn], target: Turn) -> str | None:
        """The original's instance filters, in its order."""
        options, words = self.options, self.filters.words
        if words is not None and not options.leaves_only and words.matches(target.text):
            return "offensive"
        target_tokens = target.text.split()
        if len(target_tokens) <= 1:
            return "empty_target"
        if any(len(token) > MAX_TARGET_WORD_CHARS for token in target_tokens):
            return "long_word"
        n_tokens = sum(turn.n_tokens for turn in context) + max(len(context) - 1, 0)
        if n_tokens + len(target_tokens) > MAX_INSTANCE_TOKENS:
            return "too_long"
        flags = target.flags
        for turn in context:
            flags |= turn.flags
        if flags:  # the first reason in the original's order: url, brackets, all_caps
            return "url" if flags & URL_FLAG else "brackets" if flags & BRACKET_FLAG else \
                "all_caps"
        for i in range(2, len(target_tokens)):
            if target_tokens[i - 2] == target_tokens[i] == target_tokens[i - 1]:
                return "repetitions"
        return None

    def build(self, ids: list[tuple[str, str, str]], stats: ConvStats) -> Iterator[str]:
        """Yield the output lines ``link_id,parent_id,comment_id<TAB>src<TAB>tgt`` for ``ids``."""
        options = self.options
        min_depth, clean = options.min_depth, options.clean
        keep_keys, parents = self.filters.keep_keys, self.parents
        cached, make_turn = self._turns._turns, self._turns.get
        skipped = stats.skipped
        not_in_keys = not_leaf = 0  # the two commonest skips, counted in locals (hot loop)
        for link_id, parent_id, comment_id in ids:
            # _target_skip, its first two checks inlined
            if keep_keys is not None and f"{link_id}\t{comment_id}" not in keep_keys:
                not_in_keys += 1
                continue
            if comment_id in parents:
                not_leaf += 1
                continue
            reason = self._target_skip_rest(link_id, comment_id)
            if reason is None:
                stats.candidates += 1
                raw_turns = self.chain(comment_id)
                if raw_turns is None:
                    reason = "missing_submission"
                elif len(raw_turns) < min_depth:
                    reason = "min_depth"
            if reason is not None:
                skipped[reason] += 1
                continue
            turns = [cached.get(key) or make_turn(key, raw) for key, raw in raw_turns]
            context, target = turns[:-1], turns[-1]
            if clean:
                reason = self._instance_skip(context, target)
                if reason is not None:
                    skipped[reason] += 1
                    continue
            stats.instances += 1
            stats.target_tokens += target.n_tokens
            stats.context_turns += len(context)
            stats.context_tokens += sum(turn.n_tokens for turn in context)
            src = " EOS ".join(turn.text for turn in context)
            yield f"{link_id},{parent_id},{comment_id}\t{src}\t{target.text}"
        if not_in_keys:
            skipped["not_in_keys"] += not_in_keys
        if not_leaf:
            skipped["not_leaf"] += not_leaf
