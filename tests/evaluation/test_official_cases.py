"""Every case of ``expected_official.json``, scored like the official tools.

The cases come from the ``eval_cases`` fixture: ``../shared/eval-cases`` when present (every case,
the 4.7 MB ``dstc7_1k`` included), else the vendored ``tests/assets/eval-cases`` (the expected
values and the ``synth200`` case), so these tests always run.

The expected values are what the official scorers printed (DSTC-7's ``dstc.py`` and DialoGPT's
``dstc/`` variant, with mteval-v14c.pl and meteor-1.5.jar). NIST and BLEU must be equal as
printed (4 decimals), entropy/distinct/length within 1e-6, METEOR within 1e-4.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict

import pytest

from dialogpt.evaluation import inputs
from dialogpt.evaluation.batch_eval import main
from dialogpt.evaluation.meteor import MeteorUnavailable, locate_meteor, meteor_many
from dialogpt.evaluation.scoring import METRIC_KEYS, DstcScorer

EXACT = {"n_lines", "nist1", "nist2", "nist3", "nist4", "bleu1", "bleu2", "bleu3", "bleu4"}
TOLERANCE = {"meteor": 1e-4}
DEFAULT_TOLERANCE = 1e-6


def _meteor_missing() -> str | None:
    try:
        locate_meteor()
    except MeteorUnavailable as exc:
        return str(exc)
    return None


METEOR_MISSING = _meteor_missing()
needs_meteor = pytest.mark.skipif(METEOR_MISSING is not None,
                                  reason=f"METEOR unavailable: {METEOR_MISSING}")


def mismatches(entry: dict, scores: dict, with_meteor: bool) -> list[str]:
    problems = []
    for key in METRIC_KEYS:
        if key == "meteor" and not with_meteor:
            continue
        expected, actual = entry[key], scores[key]
        if key in EXACT:
            ok = actual == expected
        else:
            ok = actual is not None and abs(actual - expected) <= TOLERANCE.get(key,
                                                                               DEFAULT_TOLERANCE)
        if not ok:
            problems.append(f"{entry['variant']}/{entry['config']}/{entry['case']}/{entry['hyp']} "
                            f"{key}: {actual} != official {expected}")
    return problems


def settings(entry: dict) -> dict:
    """batch_eval settings of one expected entry (see eval-cases/README.md)."""
    return {"compat": "dialogpt" if entry["variant"] == "dialogpt" else "official",
            "clean": entry["config"] != "noclean",
            "vshuman": -1 if entry["config"] == "allrefs" else 1}


def hypothesis_path(case_dir, entry):
    if entry["variant"] == "dialogpt":
        return case_dir / "plain" / f"{entry['hyp']}.resp.txt"
    return case_dir / f"{entry['hyp']}.txt"


def prepared_systems(cases_dir, entries):
    """Prepare every entry with one scorer per case (as a batch run does); yields scorer too."""
    first = entries[0]
    case_dir = cases_dir / first["case"]
    options = settings(first)
    keys = inputs.read_keys(case_dir / "keys.txt")
    diagnostics = inputs.Diagnostics()
    references = inputs.read_references(case_dir / "refs.txt", set(keys), diagnostics,
                                        options["compat"] == "official")
    scorer = DstcScorer(references, 6, options["vshuman"], options["clean"], options["compat"])
    systems = []
    for entry in entries:
        path = hypothesis_path(case_dir, entry)
        if entry["variant"] == "dialogpt":
            align = case_dir / "plain" / "test_real.keys.txt"
            hyps = inputs.read_plain_hypotheses(path, inputs.read_keys(align), align, set(keys),
                                                diagnostics)
        else:
            hyps = inputs.read_dstc_hypotheses(path, set(keys), diagnostics)
        scored = inputs.check_coverage(hyps, references, case_dir / "keys.txt", len(keys),
                                       diagnostics)
        systems.append(scorer.prepare(entry["hyp"], hyps, scored))
    return scorer, systems


def expected_groups(cases_dir) -> dict[tuple, list[dict]]:
    """Expected entries by (variant, config, case), for the cases present in ``cases_dir``."""
    entries = json.loads((cases_dir / "expected_official.json").read_text())
    groups = defaultdict(list)
    for entry in entries:
        if (cases_dir / entry["case"]).is_dir():
            groups[(entry["variant"], entry["config"], entry["case"])].append(entry)
    return groups


def test_the_vendored_case_is_complete(repo_root):
    vendored = repo_root / "tests" / "assets" / "eval-cases"
    groups = expected_groups(vendored)
    assert sum(len(entries) for entries in groups.values()) == 16  # synth200: 4 runs x 4 hyps
    assert {case for _, _, case in groups} == {"synth200"}
    assert len(json.loads((vendored / "expected_official.json").read_text())) == 28


def test_nist_bleu_diversity_equal_the_official_values_on_every_case(eval_cases):
    problems, count = [], 0
    for entries in expected_groups(eval_cases).values():
        scorer, systems = prepared_systems(eval_cases, entries)
        for entry, system in zip(entries, systems):
            problems += mismatches(entry, scorer.score(system).as_dict(), with_meteor=False)
            count += 1
    assert count == (28 if (eval_cases / "dstc7_1k").is_dir() else 16)
    assert not problems, "\n".join(problems)


@needs_meteor
def test_cli_matches_official_including_meteor(eval_cases, capsys):
    """One full run of the official settings (METEOR from the jar in file mode, ~10 s)."""
    case = eval_cases / "synth200"
    [entry] = [e for e in expected_groups(eval_cases)[("dstc7", "official", "synth200")]
               if e["hyp"] == "hyp_edge"]
    assert main(["--refs", str(case / "refs.txt"), "--keys", str(case / "keys.txt"),
                 "--hyp", str(case / "hyp_edge.txt"), "--clean", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert list(scores) == list(METRIC_KEYS)
    assert not mismatches(entry, scores, with_meteor=True)


@pytest.mark.slow
@needs_meteor
def test_meteor_of_every_case_in_one_jvm(eval_cases):
    """All systems (28 with dstc7_1k) through one ``-stdio`` session, as ``--input_dir`` does."""
    all_entries, pairs = [], []
    for entries in expected_groups(eval_cases).values():
        _, systems = prepared_systems(eval_cases, entries)
        all_entries += entries
        pairs += [(s.hypotheses, s.reference_streams) for s in systems]
    scores = meteor_many(locate_meteor(), pairs)
    problems = [f"{e['variant']}/{e['config']}/{e['case']}/{e['hyp']}: METEOR {meteor} != "
                f"official {e['meteor']}" for e, meteor in zip(all_entries, scores)
                if abs(meteor - e["meteor"]) > TOLERANCE["meteor"]]
    assert len(scores) == (28 if (eval_cases / "dstc7_1k").is_dir() else 16)
    assert not problems, "\n".join(problems)


def test_input_dir_scores_every_response_file_like_dialogpt(eval_cases, tmp_path, capsys):
    case = eval_cases / "synth200"
    for path in (case / "plain").glob("*.resp.txt"):
        shutil.copy(path, tmp_path / path.name)
    argv = ["--refs", str(case / "refs.txt"), "--keys", str(case / "keys.txt"),
            "--align_keys", str(case / "plain" / "test_real.keys.txt"),
            "--input_dir", str(tmp_path), "--clean", "--compat", "dialogpt", "--no_meteor"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    problems = []
    entries = expected_groups(eval_cases)[("dialogpt", "official", "synth200")]
    for entry in entries:
        assert f"| {entry['hyp']} " in table
        report = tmp_path / "eval" / f"{entry['hyp']}.eval.txt"
        assert "n_lines = 200" in report.read_text()
        scores = json.loads((tmp_path / "eval" / f"{entry['hyp']}.eval.json").read_text())
        problems += mismatches(entry, scores, with_meteor=False)
    assert not problems, "\n".join(problems)
    summary = (tmp_path / "eval" / "summary.tsv").read_text().splitlines()
    assert summary[0].split("\t") == ["fname", *METRIC_KEYS]
    assert len(summary) == 1 + len(entries)
