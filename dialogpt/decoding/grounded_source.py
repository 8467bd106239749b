"""Seq2seq (GODEL) decoding sources: the template a checkpoint was trained with, and source ids.

An encoder-decoder model reads one *source* string per dialog, built by
``dialogpt.grounding.fit_source`` from the instruction, the knowledge and the turns with the
template the model was trained with (``docs/spec/grounded.md`` §2). This module

- reads what a checkpoint recorded about its sources (``dialogpt.grounding.GROUNDING_FILE`` beside
  the weights: ``{"kind", "template", "instruction"?, "max_source_len", "max_target_len",
  "tokenizer_fingerprint"?}``) and resolves the template to decode with: the recorded one, unless
  the user names another (the override is announced), else ``card`` (a Hub GODEL model);
- turns a dialog into source ids (:func:`source_window`), with every cut reported in the
  ``ContextWindow`` that the causal path also returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from dialogpt.cli import UserError
from dialogpt.decoding.context import ContextWindow
from dialogpt.grounding import DEFAULT_MAX_SOURCE_LEN, read_grounding

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceSettings:
    """How a seq2seq decoder builds sources, and the defaults of requests that give none."""

    template: str = "card"
    instruction: str = ""
    """Used for a dialog that brings no instruction of its own."""
    knowledge: str = ""
    """Used for a dialog that brings no knowledge of its own."""
    max_source_len: int = DEFAULT_MAX_SOURCE_LEN


def resolve_template(flag: str | None, recorded: dict, record_file: Path | None) -> str:
    """The template to decode with; logs where it came from, and warns on an override."""
    from dialogpt.grounding import DEFAULT_TEMPLATE, TEMPLATES

    trained = recorded.get("template")
    if trained is not None and trained not in TEMPLATES:
        raise UserError(f"{record_file}: unknown template {trained!r} (known: "
                        f"{', '.join(TEMPLATES)}); pass --template to choose one")
    if flag is None:
        template = trained or DEFAULT_TEMPLATE
        origin = (f"recorded in {record_file}" if trained else
                  "the default: the model records no template")
        logger.info("source template %s (%s)", template, origin)
        return template
    if trained and flag != trained:
        logger.warning("--template %s OVERRIDES the template this model was trained with (%s, "
                       "recorded in %s): its responses may degrade", flag, trained, record_file)
    else:
        logger.info("source template %s (--template)", flag)
    return flag


def source_settings(model: str, init_checkpoint: str | None, template: str | None,
                    instruction: str | None, knowledge: str, max_context_tokens: int,
                    tokenizer=None) -> SourceSettings:
    """Settings for decoding ``model`` (flags win over what the checkpoint recorded).

    ``instruction`` None: the instruction the checkpoint was trained with, if recorded, else "".
    A recorded ``tokenizer_fingerprint`` must match ``tokenizer``'s.
    """
    recorded, file = read_grounding(init_checkpoint, model)
    chosen = resolve_template(template, recorded, file)
    fingerprint = recorded.get("tokenizer_fingerprint")
    if fingerprint and tokenizer is not None:
        from dialogpt.tokenization import tokenizer_fingerprint

        if tokenizer_fingerprint(tokenizer) != fingerprint:
            raise UserError(f"the tokenizer does not match the one recorded in {file} (fingerprint "
                            f"{fingerprint}): pass the training tokenizer with --tokenizer")
    if instruction is None:
        instruction = recorded.get("instruction") or ""
    elif instruction and chosen == "repo":
        logger.warning("--instruction is ignored: the repo template has no instruction")
    limit = max_context_tokens or int(recorded.get("max_source_len") or DEFAULT_MAX_SOURCE_LEN)
    return SourceSettings(template=chosen, instruction=instruction, knowledge=knowledge,
                          max_source_len=limit)


def source_window(tokenizer, turns: Sequence[str], knowledge: str, instruction: str,
                  template: str, max_tokens: int, max_turns: int = 0) -> ContextWindow:
    """The encoder ids for a dialog (``fit_source``'s length policy), as a ``ContextWindow``.

    ``max_turns`` (0 = all) keeps the most recent turns first; turns that the token limit then
    drops are counted in ``turns_dropped_for_tokens``. Raises ``UserError`` when even the
    instruction and the newest turn cannot fit.
    """
    from dialogpt.grounding import SourceTooLong, fit_source

    turns = list(turns[-max_turns:]) if max_turns else list(turns)
    if not turns:
        return ContextWindow(ids=[], turns_kept=0, turns_dropped_for_tokens=0, tokens_cut=0)

    def encode(text: str) -> list[int]:
        return tokenizer(text, verbose=False).input_ids

    try:
        fit = fit_source(turns, knowledge, instruction, template, encode, max_tokens)
    except SourceTooLong as exc:
        raise UserError(f"source over {max_tokens} tokens: {exc}") from exc
    return ContextWindow(ids=encode(fit.text), turns_kept=fit.turns_kept,
                         turns_dropped_for_tokens=fit.turns_dropped, tokens_cut=0,
                         knowledge_cut=fit.knowledge_cut, newest_turn_cut=fit.newest_turn_cut,
                         source=fit.text)
