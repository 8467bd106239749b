"""Learning-rate schedules against the spec's pinned numbers and hand-worked values."""

import math

import pytest

from dialogpt.training.schedules import bert, learning_rate, noam, noamwd

SPEC = dict(base_lr=1e-5, warmup_steps=4000, n_embd=768)


def test_noam_matches_the_spec_pinned_values():
    # the spec gives 4 significant digits: allow half a unit of the last one
    assert noam(4000, **SPEC) == pytest.approx(5.705e-5, abs=0.0005e-5)
    assert noam(1, **SPEC) == pytest.approx(1.426e-8, abs=0.0005e-8)


def test_noam_peaks_at_warmup_then_decays_as_inverse_sqrt():
    # closed form: 1e-5 * 1e4 / sqrt(768) / sqrt(4000)
    peak = 0.1 / math.sqrt(768) / math.sqrt(4000)
    assert noam(4000, **SPEC) == pytest.approx(peak, rel=1e-12)
    assert noam(2000, **SPEC) == pytest.approx(peak / 2, rel=1e-12)  # linear warm-up
    assert noam(16000, **SPEC) == pytest.approx(peak / 2, rel=1e-12)  # sqrt(4000/16000)


@pytest.mark.parametrize("step, halvings", [(1, 0), (499, 0), (500, 1), (1499, 1), (1500, 2),
                                            (2500, 3)])
def test_noamwd_halves_every_1000_steps_from_step_500(step, halvings):
    assert noamwd(step, **SPEC) == pytest.approx(noam(step, **SPEC) * 0.5 ** halvings, rel=1e-12)


@pytest.mark.parametrize("step, factor", [(1, 0.0), (51, 0.5), (101, 1.0), (551, 0.5),
                                          (1001, 0.0), (1501, 0.0), (5000, 0.0)])
def test_bert_warms_up_linearly_then_decays_to_zero_and_stays_there(step, factor):
    # T = 1000, p = 0.1: x = (s-1)/T; x/p below p, (1-x)/(1-p) above, clamped at 0 past T
    assert bert(step, 2e-4, 1000, 0.1) == pytest.approx(2e-4 * factor, abs=1e-15)


def test_learning_rate_dispatches_on_the_original_names():
    common = dict(base_lr=1e-5, warmup_steps=4000, warmup_proportion=0.1, total_steps=1000,
                  n_embd=768)
    assert learning_rate("noam", 4000, **common) == pytest.approx(5.705e-5, abs=0.0005e-5)
    assert learning_rate("noamwd", 500, **common) == pytest.approx(noam(500, **SPEC) / 2)
    assert learning_rate("BERT", 101, **common) == pytest.approx(1e-5)
    assert learning_rate("None", 12345, **common) == 1e-5
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        learning_rate("cosine", 1, **common)
    with pytest.raises(ValueError, match="1-based"):
        learning_rate("noam", 0, **common)
