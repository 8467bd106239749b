"""The per-task metrics GODEL's paper reports, beyond BLEU, ROUGE and the two F1s. Pure.

* CoQA: the official evaluation script's (``evaluate-v1.0.py``) exact match and token F1.
  Its normalisation differs from GODEL's :func:`~dialogpt.evaluation.grounded_metrics.
  normalize_answer`: punctuation (``string.punctuation``) is *deleted*, not replaced by a space
  (``don't`` -> ``dont``), then ``a``/``an``/``the`` become spaces, whitespace is collapsed. With
  several gold answers a turn scores the mean, over each gold answer left out in turn, of the best
  score against the others (:func:`coqa_turn_score`); with one, the score against it. The overall
  figure is the mean over turns (the script's "overall": its per-source totals summed).
* MultiWOZ: the GODEL/HDSA response is ``act names | delexicalised text``. Inform and Success
  need what the HDSA records do not carry (:data:`MULTIWOZ_INFORM_SUCCESS_NOTE`); scored instead
  are the dialog-act F1 (micro over turns, act names as sets) and BLEU of the text after ``|``.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Sequence

TASKS = ("wow", "woi", "coqa", "multiwoz", "dstc9", "chat")

MULTIWOZ_INFORM_SUCCESS_NOTE = (
    "Inform/Success not computed: they need each dialog's user goal (the constraints and the "
    "requested slots per domain, MultiWOZ's data.json/delex.json 'goal') and the venue databases "
    "(db/*.json) to check that an offered [domain_name] meets the goal; the HDSA files carry "
    "neither (only each turn's belief state, DB count and acts), and the converted records keep "
    "no dialog id to look a goal up. Dialog-act F1 and the text's BLEU are scored instead.")

_COQA_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES_RE = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def coqa_normalize(text: str) -> str:
    """The official CoQA ``normalize_answer``: lower-case, delete punctuation, articles to spaces,
    collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _COQA_PUNCTUATION)
    return " ".join(_ARTICLES_RE.sub(" ", text).split())


def coqa_exact(gold: str, prediction: str) -> float:
    return float(coqa_normalize(gold) == coqa_normalize(prediction))


def coqa_f1(gold: str, prediction: str) -> float:
    """Token F1 of the normalised texts; both empty 1, one empty 0 (the official rule)."""
    gold_tokens, pred_tokens = coqa_normalize(gold).split(), coqa_normalize(prediction).split()
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)
    same = sum((Counter(gold_tokens) & Counter(pred_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def coqa_turn_score(golds: Sequence[str], prediction: str) -> tuple[float, float]:
    """``(exact, f1)`` of one turn: with n > 1 gold answers, the mean over i of the best score
    against the golds other than i; with one, the score against it."""
    if not golds:
        raise ValueError("a CoQA turn needs at least one gold answer")
    if len(golds) == 1:
        return coqa_exact(golds[0], prediction), coqa_f1(golds[0], prediction)
    exact = f1 = 0.0
    for i in range(len(golds)):
        others = [*golds[:i], *golds[i + 1:]]
        exact += max(coqa_exact(gold, prediction) for gold in others)
        f1 += max(coqa_f1(gold, prediction) for gold in others)
    return exact / len(golds), f1 / len(golds)


def coqa_scores(hypotheses: Sequence[str], golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean official exact match and F1 over the turns (fractions; the script prints x 100)."""
    if len(hypotheses) != len(golds):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(golds)} gold answer lists")
    turns = [coqa_turn_score(gold, hyp) for hyp, gold in zip(hypotheses, golds)]
    n = max(len(turns), 1)
    return {"coqa_em": sum(em for em, _ in turns) / n, "coqa_f1": sum(f1 for _, f1 in turns) / n}


def split_act_response(response: str) -> tuple[frozenset[str], str]:
    """``"restaurant-inform general-reqmore | text"`` -> (the act names, the text). A response
    without ``|`` has no acts."""
    acts, sep, text = response.partition("|")
    if not sep:
        return frozenset(), response.strip()
    return frozenset(acts.split()), text.strip()


def act_f1(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Micro precision, recall and F1 of the act names (as sets per turn) over all turns."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    hits = predicted = gold = 0
    for hyp, ref in zip(hypotheses, references):
        hyp_acts, ref_acts = split_act_response(hyp)[0], split_act_response(ref)[0]
        hits += len(hyp_acts & ref_acts)
        predicted += len(hyp_acts)
        gold += len(ref_acts)
    precision = hits / predicted if predicted else 0.0
    recall = hits / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"act_precision": precision, "act_recall": recall, "act_f1": f1}


def multiwoz_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """Act F1, BLEU of the text parts (GODEL's BLEU rule), and Inform/Success as None."""
    from dialogpt.evaluation.grounded_metrics import corpus_bleu

    texts = corpus_bleu([split_act_response(hyp)[1] for hyp in hypotheses],
                        [[split_act_response(ref)[1]] for ref in references])
    return {**act_f1(hypotheses, references), "text_bleu": texts.bleu, "inform": None,
            "success": None, "inform_success_note": MULTIWOZ_INFORM_SUCCESS_NOTE}


def task_scores(task: str | None, hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """The metrics ``task`` adds to GODEL's common ones (none for wow, woi, dstc9, chat)."""
    if task == "coqa":
        return coqa_scores(hypotheses, [[ref] for ref in references])
    if task == "multiwoz":
        return multiwoz_scores(hypotheses, references)
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return {}


# Columns each task's table adds after the common ones: (title, key, shown as a percentage).
TASK_COLUMNS = {
    "coqa": (("CoQA EM", "coqa_em", True), ("CoQA F1", "coqa_f1", True)),
    "multiwoz": (("Inform", "inform", True), ("Success", "success", True),
                 ("Act F1", "act_f1", True), ("Text BLEU", "text_bleu", True)),
}
