"""Evaluation metrics, baselines and the checkpoint comparison table, on known inputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from avstudio.evaluate.baselines import mean_frame, mean_frame_baseline, nearest_neighbour_baseline
from avstudio.evaluate.compare import compare_table
from avstudio.evaluate.metrics import (
    better,
    brightness_corr,
    embedding_cosine,
    image_metrics,
    iou_binary,
    lower_is_better,
    mae,
    mean_brightness,
    metric_direction,
    polarity_accuracy,
    ssim,
)
from avstudio.mapper.checkpoint import CheckpointInfo

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def levels(values, h: int = 16, w: int = 24) -> np.ndarray:
    """Uniform grey frames, one per value: (n, h, w, 3) uint8."""
    return np.repeat(np.asarray(values, dtype=np.uint8), h * w * 3).reshape(len(values), h, w, 3)


@pytest.fixture
def noise() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(5, 32, 40, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- image metrics


def test_identical_frames_are_perfect(noise):
    assert mae(noise, noise) == 0.0
    assert ssim(noise, noise) == pytest.approx(1.0, abs=1e-12)
    assert iou_binary(noise, noise) == 1.0
    result = image_metrics(noise, noise.copy())
    assert result == {
        "mae": 0.0,
        "ssim": pytest.approx(1.0, abs=1e-12),
        "iou": 1.0,
        "brightness_corr": pytest.approx(1.0),
        "polarity_accuracy": 1.0,
    }


def test_mae_known_value():
    assert mae(levels([10, 200]), levels([40, 170])) == 30.0
    assert mae(levels([0]), levels([255])) == 255.0


def test_ssim_of_flat_frames_follows_the_formula(noise):
    # flat frames: no variance, so SSIM = luminance term only
    expected = (2 * 100 * 150 + C1) / (100**2 + 150**2 + C1)
    assert ssim(levels([100]), levels([150])) == pytest.approx(expected, rel=1e-5)
    other = np.random.default_rng(1).integers(0, 256, size=noise.shape, dtype=np.uint8)
    assert ssim(noise, other) < 0.1


def test_iou_binary_known_values():
    a = np.zeros((1, 8, 16, 3), dtype=np.uint8)
    b = np.zeros_like(a)
    a[:, :, 0:8] = 255  # light columns 0..7
    b[:, :, 4:12] = 255  # light columns 4..11 -> overlap 4 of 12
    assert iou_binary(a, b) == pytest.approx(1 / 3)
    assert iou_binary(a, 255 - a) == 0.0  # inverted binary frames
    dark = np.zeros_like(a)
    assert iou_binary(dark, dark) == 1.0  # both empty: they agree
    assert iou_binary(levels([127]), levels([128])) == 0.0  # threshold is inclusive
    assert iou_binary(levels([127]), levels([128]), threshold=100) == 1.0


def test_brightness_correlation_known_sequences():
    a = levels([10, 20, 30, 40])
    assert brightness_corr(a, levels([20, 40, 60, 80])) == pytest.approx(1.0)
    assert brightness_corr(a, levels([80, 60, 40, 20])) == pytest.approx(-1.0)
    assert brightness_corr(levels([1, 2, 3]), levels([1, 3, 2])) == pytest.approx(0.5)
    assert brightness_corr(a, levels([50, 50, 50, 50])) == 0.0  # constant
    assert brightness_corr(np.array([1.0, 2, 3]), np.array([1.0, 3, 2])) == pytest.approx(0.5)
    np.testing.assert_allclose(mean_brightness(levels([0, 77, 255])), [0, 77, 255], atol=1e-3)


def test_colour_to_brightness_uses_bt601_luma():
    red = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    red[..., 0] = 255
    assert mean_brightness(red)[0] == pytest.approx(0.299 * 255, rel=1e-5)


def test_polarity_hysteresis_and_accuracy():
    a = np.array([200, 150, 100, 60, 100, 190], dtype=float)
    b = np.array([200, 150, 70, 90, 120, 130], dtype=float)
    # polarities: a = [1, 1, 1, -1, -1, 1], b = [1, 1, -1, -1, -1, -1]
    assert polarity_accuracy(a, b) == pytest.approx(4 / 6)
    assert polarity_accuracy(levels(a), levels(b)) == pytest.approx(4 / 6)  # frames give the same
    # thresholds move the switching points: a = [1, 1, 1, -1, -1, -1], b stays light
    assert polarity_accuracy(a, b, light_above=195, dark_below=65) == pytest.approx(3 / 6)


def test_embedding_cosine_known_value():
    pred = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    true = np.array([[2.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    assert embedding_cosine(pred, true) == pytest.approx((1 + 1 / math.sqrt(2) + 0) / 3)


def test_better_knows_direction():
    assert better("mae", 1.0, 2.0) and not better("mae", 2.0, 1.0)
    assert better("ssim", 0.9, 0.5) and not better("ssim", 0.5, 0.9)
    assert better("val_loss", 0.1, 0.2) and better("mean_frame.mae", 3, 4)
    assert better("iou", 0.5, None) and not better("iou", None, 0.5)
    assert not better("iou", float("nan"), 0.5) and better("iou", 0.1, float("nan"))
    assert not better("mae", 1.0, 1.0)
    assert lower_is_better("best_val_loss") and not lower_is_better("polarity_accuracy")
    assert metric_direction("mapper.ssim") == "higher" and metric_direction("n_val") is None


def test_mismatched_shapes_raise(noise):
    with pytest.raises(ValueError, match="differ in shape"):
        mae(noise, noise[:2])


# --------------------------------------------------------------------------- baselines


def test_mean_frame_baseline():
    train = levels([0, 100, 50])
    frames = mean_frame_baseline(train, 4)
    assert frames.shape == (4, 16, 24, 3) and frames.dtype == np.uint8
    assert np.all(frames == 50)
    assert mean_frame(levels([0, 1])).max() == 0  # 0.5 rounds to even
    assert mae(frames, levels([50, 50, 50, 60])) == 2.5


def test_nearest_neighbour_baseline_cosine():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    query = np.array([[5.0, 0.2], [0.0, 0.1], [3.0, 3.2], [-1.0, 0.0]])
    expected = [0, 1, 2, 1]  # [-1, 0] is orthogonal to row 1 and opposite to rows 0, 2
    assert nearest_neighbour_baseline(train, levels([10, 20, 30]), query).tolist() == expected
    indices = np.array([100, 200, 300])
    assert nearest_neighbour_baseline(train, indices, query).tolist() == [100, 200, 300, 200]


# --------------------------------------------------------------------------- compare


def info(name, *, lr, metrics, best=False, broken=None):
    config = {
        "name": name,
        "created": "2026-01-01T00:00:00+00:00",
        "mapper": {"hidden": 512, "depth": 2},
        "train": {"lr": lr, "epochs": 200},
        "encoders": {"audio": {"name": "builtin-audio", "dim": 70}},
        "best_epoch": 17,
        "best": best,
    }
    return CheckpointInfo(name, Path(name), config["created"], config, metrics, [], best, broken)


def test_compare_table_marks_differences_and_best():
    infos = [
        info("a", lr=1e-3, metrics={"mae": 20.0, "polarity_bacc": 0.5, "selection_loss": 0.3}, best=True),
        info("b", lr=1e-2, metrics={"mae": 15.0, "polarity_bacc": 0.5, "iou": 0.7}),
        info("c", lr=1e-3, metrics={"mae": 25.0, "polarity_bacc": 0.4, "selection_loss": 0.2}),
        CheckpointInfo("broken", Path("broken"), None, broken="config.json is missing"),
    ]
    table = compare_table(infos)
    assert table["checkpoints"] == ["a", "b", "c"]
    assert table["best_flags"] == [True, False, False]
    assert table["params"] == {"train.lr": [1e-3, 1e-2, 1e-3]}  # equal params are left out
    assert table["broken"] == {"broken": "config.json is missing"}
    metrics = table["metrics"]
    assert list(metrics) == ["polarity_bacc", "iou", "mae", "selection_loss"]
    assert metrics["mae"] == {"values": [20.0, 15.0, 25.0], "best": [1], "lower_is_better": True}
    assert metrics["polarity_bacc"]["best"] == [0, 1]  # ties are all marked
    assert metrics["iou"] == {"values": [None, 0.7, None], "best": [], "lower_is_better": False}
    assert metrics["selection_loss"]["best"] == [2]


def test_compare_table_prefixed_metrics_and_counts():
    infos = [
        info("a", lr=1e-3, metrics={"painter.brightness_r": 0.6, "mean_frame.brightness_r": 0.0,
                                    "painter.crispness_error": 0.2, "n_val": 60.0, "best_epoch": 9.0}),
        info("b", lr=1e-3, metrics={"painter.brightness_r": 0.7, "mean_frame.brightness_r": 0.0,
                                    "painter.crispness_error": 0.1, "n_val": 80.0, "best_epoch": 30.0}),
    ]
    table = compare_table(infos)
    assert table["params"] == {}
    assert list(table["metrics"]) == ["painter.brightness_r", "mean_frame.brightness_r", "painter.crispness_error",
                                      "best_epoch", "n_val"]  # by metric, the painter before its baselines
    assert table["metrics"]["painter.brightness_r"]["best"] == [1]
    assert table["metrics"]["painter.crispness_error"]["best"] == [1]  # closer to the truth's crispness
    assert table["metrics"]["mean_frame.brightness_r"]["best"] == []  # the same baseline for both: not ranked
    assert table["metrics"]["n_val"] == {"values": [60.0, 80.0], "best": [], "lower_is_better": None}
    assert table["metrics"]["best_epoch"]["best"] == []
