"""Temporal logic: polarity hysteresis, onset normalisation, cuts and smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from avstudio.errors import ManifestError
from avstudio.render.polarity import track_polarity
from avstudio.render.temporal import FIELDS, TemporalConfig, onset_normalise, plan_frames


def _flat(n: int, value: float = 128.0) -> np.ndarray:
    return np.full(n, value)


# ------------------------------------------------------------------ polarity
def test_polarity_flips_with_hysteresis():
    brightness = np.array([200, 150, 100, 90, 70, 100, 170, 180])
    assert track_polarity(brightness).tolist() == [1, 1, 1, 1, -1, -1, -1, 1]
    assert track_polarity(brightness).dtype == np.int8


def test_polarity_initial_state():
    assert track_polarity(np.array([127.0, 150, 176])).tolist() == [-1, -1, 1]
    assert track_polarity(np.array([128.0, 100])).tolist() == [1, 1]
    assert track_polarity(np.array([120.0, 100]), initial=1).tolist() == [1, 1]
    assert track_polarity(np.array([90.0, 60]), light_above=100, dark_below=70).tolist() == [-1, -1]
    assert track_polarity(np.array([])).shape == (0,)


# ----------------------------------------------------------------- onsets
def test_onset_normalise_clicks_and_flat_curves():
    clicks = np.zeros(100)
    clicks[[10, 50, 90]] = [4.0, 2.0, 4.0]
    np.testing.assert_array_equal(onset_normalise(clicks)[[10, 50, 90]], [1.0, 1.0, 1.0])
    assert onset_normalise(clicks).sum() == 3.0
    np.testing.assert_array_equal(onset_normalise(np.full(50, 0.7)), np.zeros(50))
    ramp = np.arange(101, dtype=float)  # median 50, 95th percentile 95
    np.testing.assert_allclose(onset_normalise(ramp)[[50, 72, 95, 100]], [0.0, 22 / 45, 1.0, 1.0])
    assert onset_normalise(np.array([np.nan, 1.0, 0.0])).tolist() == [0.0, 1.0, 0.0]


# ------------------------------------------------------------------ plans
def test_click_track_cuts_exactly_at_the_clicks():
    n = 60
    onset = np.zeros(n)
    clicks = [0, 12, 30, 31, 45]
    onset[clicks] = 1.0
    rng = np.random.default_rng(0)
    emb = np.array([1.0, 0.2, 0.0]) + 0.01 * rng.standard_normal((n, 3))
    cfg = TemporalConfig(min_cut_gap_frames=3)
    plans = plan_frames(emb, onset=onset, brightness=_flat(n, 40.0), config=cfg)
    assert [i for i, p in enumerate(plans) if p.cut] == [0, 12, 30, 45]  # 31 is too close to 30
    assert all(plans[i].strength == 1.0 for i in (0, 12, 30, 45))
    assert plans[31].strength == 1.0 and not plans[31].cut  # full onset, blended
    assert plans[20].strength == cfg.strength_min
    assert all(p.polarity == -1 for p in plans)
    np.testing.assert_array_equal(plans[12].embedding, emb[12].astype(np.float32))


def test_held_tone_smooths_by_alpha_sustain_toward_a_step():
    n = 10
    emb = np.array([[1.0, 0.0]] * 5 + [[1.0, 1.0]] * 5)  # cosine 0.707: no forced cut
    cfg = TemporalConfig(alpha=0.5, alpha_sustain=0.15, cosine_cut=0.5)
    plans = plan_frames(emb, onset=np.full(n, 0.7), brightness=_flat(n, 40.0), config=cfg)
    assert [p.cut for p in plans] == [True] + [False] * 9
    second = [float(p.embedding[1]) for p in plans]
    expected = [0.0] * 5 + [1 - 0.85**k for k in range(1, 6)]  # 0.15, 0.2775, 0.385875, ...
    np.testing.assert_allclose(second, expected, atol=1e-6)
    assert all(p.strength == cfg.strength_min for p in plans[1:])
    # not sustained (sustain_below 0): the normal alpha
    plans = plan_frames(emb, onset=np.full(n, 0.7), brightness=_flat(n, 40.0),
                        config=TemporalConfig(alpha=0.5, sustain_below=0.0))
    np.testing.assert_allclose([float(p.embedding[1]) for p in plans[5:8]], [0.5, 0.75, 0.875], atol=1e-6)


def test_cosine_jump_forces_a_cut_even_inside_the_gap():
    n = 8
    emb = np.array([[1.0, 0.0]] * 4 + [[-1.0, 0.2]] * 4)
    onset = np.zeros(n)
    onset[3] = 1.0  # a click right before: the gap does not hold back a cosine cut
    plans = plan_frames(emb, onset=onset, brightness=_flat(n, 40.0), config=TemporalConfig(min_cut_gap_frames=5))
    assert [i for i, p in enumerate(plans) if p.cut] == [0, 4]
    np.testing.assert_array_equal(plans[4].embedding, np.array([-1.0, 0.2], np.float32))


def test_polarity_switches_are_cuts_and_polarity_is_attached():
    n = 8
    emb = np.tile([1.0, 0.1], (n, 1))
    brightness = np.array([200, 150, 100, 90, 70, 100, 170, 180])
    plans = plan_frames(emb, onset=np.zeros(n), brightness=brightness)
    assert [p.polarity for p in plans] == [1, 1, 1, 1, -1, -1, -1, 1]
    assert [i for i, p in enumerate(plans) if p.cut] == [0, 4, 7]


def test_strength_follows_the_onset_between_min_and_max():
    onset = np.zeros(20)
    onset[[2, 3, 19]] = [0.25, 0.5, 1.0]
    # median 0, 95th percentile 0.525, max 1 -> scale 0.525
    cfg = TemporalConfig(onset_cut=1.0, strength_min=0.4, strength_max=0.8)
    plans = plan_frames(np.ones((20, 2)), onset=onset, brightness=_flat(20, 40.0), config=cfg)
    assert plans[2].strength == pytest.approx(0.4 + 0.4 * 0.25 / 0.525)
    assert plans[3].strength == pytest.approx(0.4 + 0.4 * 0.5 / 0.525)
    assert plans[5].strength == pytest.approx(0.4)
    assert plans[19].cut and plans[19].strength == 1.0


def test_planning_is_deterministic():
    rng = np.random.default_rng(1)
    emb, onset, bright = rng.standard_normal((50, 4)), rng.random(50), rng.uniform(0, 255, 50)
    first = plan_frames(emb, onset=onset, brightness=bright)
    again = plan_frames(emb, onset=onset, brightness=bright)
    assert all(np.array_equal(a.embedding, b.embedding) and a.cut == b.cut for a, b in zip(first, again))


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError):
        plan_frames(np.ones((5, 2)), onset=np.zeros(4), brightness=np.zeros(5))


# ------------------------------------------------------------------ config
def test_fields_describe_every_setting_with_its_default():
    defaults = TemporalConfig().to_dict()
    assert list(FIELDS) == list(defaults)
    for name, (kind, default, (lo, hi), doc) in FIELDS.items():
        assert default == defaults[name] and isinstance(default, kind)
        assert lo <= default <= hi and doc
    assert FIELDS["min_cut_gap_frames"][0] is int
    assert (FIELDS["light_above"][1], FIELDS["dark_below"][1]) == (175.0, 80.0)


def test_from_dict_accepts_good_values_and_ints_for_floats():
    cfg = TemporalConfig.from_dict({"alpha": 1, "min_cut_gap_frames": 5, "light_above": 200.5})
    assert cfg.alpha == 1.0 and isinstance(cfg.alpha, float)
    assert cfg.min_cut_gap_frames == 5 and cfg.light_above == 200.5
    assert TemporalConfig.from_dict(None) == TemporalConfig()


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"alpha": 1.5}, "temporal.alpha must be between 0.0 and 1.0, got 1.5"),
        ({"alpha": "fast"}, "temporal.alpha must be a number, got 'fast'"),
        ({"min_cut_gap_frames": 2.5}, "temporal.min_cut_gap_frames must be an integer, got 2.5"),
        ({"onset_cut": True}, "temporal.onset_cut must be a number, got True"),
        ({"wobble": 1}, "unknown setting temporal.wobble"),
        ({"dark_below": 200.0}, "temporal.dark_below (200.0) is above temporal.light_above (175.0)"),
        (
            {"strength_min": 0.9, "strength_max": 0.5},
            "temporal.strength_min (0.9) is above temporal.strength_max (0.5)",
        ),
    ],
)
def test_from_dict_names_the_bad_key(data, path):
    with pytest.raises(ManifestError) as info:
        TemporalConfig.from_dict(data)
    assert info.value.message == path
    assert info.value.hint
