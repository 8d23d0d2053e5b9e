"""The multi-axis evaluation report, on tiny synthetic clips with known answers."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from avstudio.evaluate.baselines import mean_frame_baseline
from avstudio.evaluate.report import (
    METRICS,
    ImageSpace,
    balanced_accuracy,
    better_than,
    crispness,
    flicker,
    frame_change,
    frame_polarity,
    kid,
    score_block,
    score_table,
)


def _solid(n: int, level: int, h: int = 6, w: int = 8) -> np.ndarray:
    return np.full((n, h, w, 3), level, dtype=np.uint8)


def _clip(n: int = 60, *, h: int = 24, w: int = 32, offset: int = 0, scene: int = 20) -> np.ndarray:
    """Two moving squares; dark scenes (light squares) and light scenes (dark
    squares) alternate every ``scene`` frames."""
    frames = np.empty((n, h, w, 3), dtype=np.uint8)
    for t in range(n):
        light = ((t + offset) // scene) % 2 == 1
        bg, fg = (235, 15) if light else (15, 235)
        frames[t] = bg
        x, y = (3 * (t + offset)) % (w - 6), (2 * (t + offset)) % (h - 6)
        frames[t, y : y + 6, x : x + 6] = fg
        x2 = (w - 5) - (t + offset) % (w - 4)
        frames[t, h - 5 : h - 1, x2 : x2 + 4] = (fg, fg // 2, 255 - fg)
    return frames


class _Sliceable:
    """An h5py-like dataset: only contiguous slices, and it records their lengths."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.reads = data, []
        self.shape, self.ndim = data.shape, data.ndim

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, key: slice) -> np.ndarray:
        assert isinstance(key, slice), "only slices"
        out = self.data[key]
        self.reads.append(len(out))
        return out


# --------------------------------------------------------------------------- per-sequence metrics


def test_crispness_known_stacks() -> None:
    assert crispness(_solid(3, 0)) == 1.0
    assert crispness(_solid(3, 255)) == 1.0
    assert crispness(_solid(3, 128)) == 0.0
    half = np.concatenate([_solid(2, 0), _solid(2, 128)])
    assert crispness(half) == 0.5
    assert crispness(_solid(1, 32)) == 1.0  # the bounds are inclusive
    assert crispness(_solid(1, 33)) == 0.0
    assert crispness(_solid(1, 40), lo=40) == 1.0
    assert math.isnan(crispness(_solid(0, 0)))


def test_frame_polarity_frames_and_brightness() -> None:
    frames = np.concatenate([_solid(2, 10), _solid(1, 128), _solid(1, 200)])
    expected = np.array([-1, -1, 1, 1], dtype=np.int8)
    np.testing.assert_array_equal(frame_polarity(frames), expected)
    pol = frame_polarity(np.array([10.0, 127.9, 128.0, 200.0]))
    assert pol.dtype == np.int8
    np.testing.assert_array_equal(pol, expected)
    np.testing.assert_array_equal(frame_polarity([100.0, 150.0], threshold=160), [-1, -1])


def test_balanced_accuracy_sees_through_the_majority_class() -> None:
    true = np.array([1, 1, 1, -1])
    always_light = np.ones(4, dtype=int)
    assert np.mean(always_light == true) == 0.75  # plain accuracy flatters it
    assert balanced_accuracy(always_light, true) == 0.5
    assert balanced_accuracy(true, true) == 1.0
    assert balanced_accuracy(-true, true) == 0.0
    assert balanced_accuracy([1, -1, 1, 1], true) == pytest.approx((2 / 3 + 0) / 2)
    assert balanced_accuracy([1, -1], [1, 1]) == 0.5  # only the classes present in true
    assert math.isnan(balanced_accuracy([], []))


def test_frame_change_of_a_moving_square_is_exact() -> None:
    # A 2x2 white square moves 1 px right per frame over 40 frames (more than one
    # chunk): each step 2 pixels turn black and 2 turn white, out of 8 x 64.
    n, h, w = 40, 8, 64
    frames = np.zeros((n, h, w, 3), dtype=np.uint8)
    for t in range(n):
        frames[t, 3:5, t : t + 2] = 255
    change = frame_change(frames)
    assert change.shape == (n - 1,) and change.dtype == np.float64
    np.testing.assert_allclose(change, 4 / (h * w), rtol=1e-12)
    assert frame_change(frames[:1]).shape == (0,)
    np.testing.assert_array_equal(frame_change(_solid(3, 90)), [0.0, 0.0])


def test_flicker_counts_back_and_forth_not_cuts() -> None:
    assert flicker(np.array([0, 255, 0, 255])) == pytest.approx(1.0)
    assert flicker(np.array([0, 255, 255, 255])) == 0.0
    assert flicker(np.array([0, 0, 255, 255, 0])) == 0.0  # two cuts, never straight back
    assert flicker(np.array([0.0, 255.0, 127.5])) == pytest.approx(0.5)
    assert flicker(np.array([0, 255])) == 0.0
    assert flicker(np.array([])) == 0.0


# --------------------------------------------------------------------------- realism


def test_kid_prefers_a_varied_set_to_a_constant_one() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    same = kid(x[:100], x[100:])
    constant = kid(np.zeros((100, 4)), x[:100])  # the mean, repeated
    assert constant > same + 0.1
    assert abs(same) < 0.1
    assert kid(x[:50], x[50:120]) == pytest.approx(kid(x[50:120], x[:50]))
    assert kid(x, x) < 0  # unbiased: a set against itself falls just below zero
    assert math.isnan(kid(x[:1], x))
    assert math.isnan(kid(x, x[:1]))


def test_image_space_is_unit_variance_on_its_fit_set_and_reads_in_chunks() -> None:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(300, 12, 16, 3), dtype=np.uint8)
    source = _Sliceable(frames)
    space = ImageSpace.fit(source, components=5, size=(8, 6))
    assert max(source.reads) <= 256 and sum(source.reads) == 300
    emb = space.transform(frames)
    assert emb.shape == (300, 5) and emb.dtype == np.float64
    np.testing.assert_allclose(emb.mean(axis=0), 0.0, atol=1e-9)
    assert emb.var(axis=0, ddof=1).mean() == pytest.approx(1.0)
    assert np.all(np.diff(emb.var(axis=0)) <= 1e-9)  # largest variance first
    mask = np.arange(300) % 3 == 0
    np.testing.assert_allclose(space.transform(_Sliceable(frames), mask=mask), emb[mask])
    assert space.transform(frames[:0]).shape == (0, 5)
    # components are capped at n - 1
    assert ImageSpace.fit(frames[:4], components=16, size=(8, 6)).n_components == 3
    with pytest.raises(ValueError):
        ImageSpace.fit(frames[:1])


# --------------------------------------------------------------------------- scoring


def test_metrics_names_and_directions() -> None:
    assert list(METRICS) == [
        "iou", "mae", "polarity_bacc", "brightness_r", "crispness",
        "realism_kid", "change_r", "change_ratio", "flicker",
    ]
    assert [better for _, better in METRICS.values()] == [
        "higher", "lower", "higher", "higher", "truth", "lower", "higher", "one", "truth",
    ]


def test_better_than() -> None:
    assert better_than("iou", 0.9, 0.5) and not better_than("iou", 0.5, 0.9)
    assert better_than("mae", 1.0, 2.0)
    assert not better_than("mae", 2.0, 2.0)  # strictly
    assert better_than("crispness", 0.5, 0.9, reference=0.6)
    assert not better_than("crispness", 0.5, 0.7, reference=0.6)  # a tie
    assert better_than("change_ratio", 1.5, 0.5)  # |log 1.5| < |log 0.5|
    assert not better_than("change_ratio", 2.0, 0.5)  # a tie on the log scale
    assert better_than("change_ratio", 5.0, 0.0)  # 0 is unusable
    assert better_than("iou", 0.1, math.nan) and not better_than("iou", math.nan, 0.1)
    assert not better_than("iou", None, 0.1)
    with pytest.raises(ValueError):
        better_than("flicker", 0.1, 0.2)
    with pytest.raises(KeyError):
        better_than("ssim", 0.1, 0.2)


@pytest.fixture(scope="module")
def toy() -> dict:
    truth = _clip(60)
    train = _clip(80, offset=7)
    space = ImageSpace.fit(train, components=8)
    candidates = {
        "copy": truth.copy(),
        "black": np.zeros_like(truth),
        "white": np.full_like(truth, 255),
        "mean_frame": mean_frame_baseline(train, len(truth)),
    }
    first = np.arange(60) < 30
    masks = {
        "all": np.ones(60, dtype=bool), "first": first, "rest": ~first, "one": np.arange(60) == 5
    }
    table = score_table(candidates, truth, space=space, masks=masks)
    return {
        "truth": truth, "space": space, "candidates": candidates, "masks": masks, "table": table
    }


def test_a_copy_of_the_truth_wins_every_metric(toy: dict) -> None:
    for subset in ("all", "first", "rest"):
        best = toy["table"][subset]["best"]
        assert list(best) == list(METRICS)
        for metric in METRICS:
            assert "copy" in best[metric], (subset, metric, toy["table"][subset]["rows"])
    row = toy["table"]["all"]["rows"]["copy"]
    assert row["iou"] == 1.0 and row["mae"] == 0.0 and row["polarity_bacc"] == 1.0
    assert row["brightness_r"] == pytest.approx(1.0) and row["change_r"] == pytest.approx(1.0)
    assert row["change_ratio"] == 1.0
    assert row["crispness"] == row["truth_crispness"] and row["flicker"] == row["truth_flicker"]
    assert row["truth_change"] > 0


def test_constant_painters_lose(toy: dict) -> None:
    rows = toy["table"]["all"]["rows"]
    for name in ("black", "white"):
        for metric in ("polarity_bacc", "brightness_r", "realism_kid"):
            assert better_than(metric, rows["copy"][metric], rows[name][metric]), (name, metric)
        assert rows[name]["polarity_bacc"] == 0.5  # right on one class only
        assert rows[name]["brightness_r"] == 0.0
        assert rows[name]["crispness"] == 1.0  # crisp, but not the truth's crispness
        assert rows[name]["flicker"] == 0.0
    assert rows["black"]["change_ratio"] == 0.0  # no motion: unusable on the log scale
    assert "black" not in toy["table"]["all"]["best"]["change_ratio"]
    assert rows["mean_frame"]["realism_kid"] > rows["copy"]["realism_kid"]
    assert rows["mean_frame"]["realism_kid"] > 0.5


def test_masks_restrict(toy: dict) -> None:
    table = toy["table"]
    assert [table[s]["n_frames"] for s in ("all", "first", "rest", "one")] == [60, 30, 30, 1]
    assert table["one"]["rows"] == {} and table["one"]["best"] == {}
    truth, space, first = toy["truth"], toy["space"], toy["masks"]["first"]
    painted = toy["candidates"]["white"]
    block = score_block(painted, truth, space=space, mask=first)
    assert block == pytest.approx(table["first"]["rows"]["white"], nan_ok=True)
    # the same as scoring the first 30 frames alone
    alone = score_block(painted[:30], truth[:30], space=space)
    assert alone == pytest.approx(block, nan_ok=True)
    assert block["truth_flicker"] == pytest.approx(flicker(_brightness(truth[:30])))


def _brightness(frames: np.ndarray) -> np.ndarray:
    return (frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114])).mean(axis=(1, 2))


def test_score_block_edge_cases(toy: dict) -> None:
    truth, space = toy["truth"], toy["space"]
    empty = score_block(truth, truth, space=space, mask=np.zeros(60, dtype=bool))
    assert set(empty) == {*METRICS, "truth_crispness", "truth_flicker", "truth_change"}
    assert all(math.isnan(v) for v in empty.values())
    # every other frame: no consecutive pairs, so the change metrics are undefined
    sparse = score_block(truth, truth, space=space, mask=np.arange(60) % 2 == 0)
    assert math.isnan(sparse["change_r"]) and math.isnan(sparse["change_ratio"])
    assert math.isnan(sparse["truth_change"])
    assert sparse["iou"] == 1.0
    with pytest.raises(ValueError):
        score_block(truth[:10], truth, space=space)
    with pytest.raises(ValueError):
        score_block(truth, truth, space=space, mask=np.ones(3, dtype=bool))


def test_importing_the_report_needs_neither_torch_nor_cv2() -> None:
    code = (
        "import sys, avstudio.evaluate.report\n"
        "bad = [m for m in ('torch', 'cv2') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
