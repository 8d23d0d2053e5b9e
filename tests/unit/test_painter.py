"""The painter package: split, polarity head, frame retrieval, the bundle, and checkpoint picking.

Every test runs on small synthetic arrays with exact expected values; the
bundle tests train a 16-wide mapper for 3 epochs on 200 frames.
"""

from __future__ import annotations

import ast
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avstudio.errors import ModelError, StageError
from avstudio.mapper.checkpoint import (
    evaluation_summary,
    list_checkpoints,
    mark_best,
    pick_checkpoint,
    save_checkpoint,
)
from avstudio.mapper.model import MapperConfig, expected_shapes
from avstudio.painter.bundle import FORMAT as BUNDLE_FORMAT
from avstudio.painter.polarity import (
    DARK,
    LIGHT,
    PolarityHead,
    fit_polarity_head,
    flip_at,
    hysteresis,
    novelty,
    section_changes,
)
from avstudio.evaluate.report import balanced_accuracy
from avstudio.painter.retrieval import PathConfig, RetrievalRenderer, choose_path, successors
from avstudio.painter.split import MIN_FRAMES, Split, split_blocks, split_for
from avstudio.render.base import FramePlan

ROOT = Path(__file__).resolve().parents[2]
FPS = 15.0


# =============================================================================== split


def test_split_blocks_documented_example():
    split = split_blocks(100, val_fraction=0.15, test_fraction=0.15, gap=5)
    assert split == Split(n=100, train=(0, 60), val=(65, 80), test=(85, 100), gap=5)
    assert split.indices("train").tolist() == list(range(0, 60))
    assert split.indices("val").tolist() == list(range(65, 80))
    assert split.indices("test").tolist() == list(range(85, 100))
    assert split.indices("val").dtype == np.int64
    assert split.known_before("val") == 64
    assert split.known_before("test") == 84
    assert split.known_before("train") == -1


@pytest.mark.parametrize("n", [26, 27, 40, 99, 100, 101, 250, 1000, 4321])
@pytest.mark.parametrize("gap", [0, 1, 5])
@pytest.mark.parametrize("fractions", [(0.15, 0.15), (0.1, 0.2), (0.25, 0.05)])
def test_split_blocks_are_contiguous_disjoint_ordered_with_exact_gaps(n, gap, fractions):
    val_fraction, test_fraction = fractions
    split = split_blocks(n, val_fraction=val_fraction, test_fraction=test_fraction, gap=gap)
    (t0, t1), (v0, v1), (s0, s1) = split.train, split.val, split.test
    assert (split.n, split.gap) == (n, gap)
    assert t0 == 0 and s1 == n
    assert t0 < t1 <= v0 < v1 <= s0 < s1
    assert v0 - t1 == gap and s0 - v1 == gap
    assert (t1 - t0) + (v1 - v0) + (s1 - s0) + 2 * gap == n
    assert v1 - v0 == max(MIN_FRAMES["val"], round(n * val_fraction))
    assert s1 - s0 == max(MIN_FRAMES["test"], round(n * test_fraction))
    assert t1 - t0 >= MIN_FRAMES["train"]
    blocks = [set(split.indices(b).tolist()) for b in ("train", "val", "test")]
    assert not (blocks[0] & blocks[1] or blocks[1] & blocks[2] or blocks[0] & blocks[2])


def test_split_to_dict_from_dict_round_trip_through_json():
    split = split_blocks(100, val_fraction=0.15, test_fraction=0.15, gap=5)
    data = split.to_dict()
    assert data == {"n": 100, "train": [0, 60], "val": [65, 80], "test": [85, 100], "gap": 5}
    back = Split.from_dict(json.loads(json.dumps(data)))
    assert back == split
    assert isinstance(back.train, tuple)


def _needed(exc: StageError) -> int:
    match = re.search(r"(\d+) needed", exc.message)
    assert match, exc.message
    return int(match.group(1))


def test_split_too_few_frames_names_the_true_minimum():
    with pytest.raises(StageError) as info:
        split_blocks(10, val_fraction=0.15, test_fraction=0.15, gap=5)
    assert "10 frames" in info.value.message
    assert info.value.hint
    need = _needed(info.value)
    assert need == 26
    split_blocks(need, val_fraction=0.15, test_fraction=0.15, gap=5)  # that many is enough
    with pytest.raises(StageError) as again:
        split_blocks(need - 1, val_fraction=0.15, test_fraction=0.15, gap=5)
    assert _needed(again.value) == need


@pytest.mark.parametrize("val_fraction, test_fraction, gap", [
    (0.1, 0.1, 10),
    (0.05, 0.1, 7),
    (0.15, 0.15, 15),  # the manifest's defaults (1 s window at 15 fps): says 55, 54 work
])
def test_split_message_minimum_is_exact_for_other_settings(val_fraction, test_fraction, gap):
    with pytest.raises(StageError) as info:
        split_blocks(1, val_fraction=val_fraction, test_fraction=test_fraction, gap=gap)
    need = _needed(info.value)
    split_blocks(need, val_fraction=val_fraction, test_fraction=test_fraction, gap=gap)
    with pytest.raises(StageError):
        split_blocks(need - 1, val_fraction=val_fraction, test_fraction=test_fraction, gap=gap)


@pytest.mark.parametrize("kwargs", [
    {"val_fraction": 0.0, "test_fraction": 0.15, "gap": 0},
    {"val_fraction": 0.5, "test_fraction": 0.5, "gap": 0},
    {"val_fraction": 0.15, "test_fraction": 0.15, "gap": -1},
])
def test_split_blocks_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        split_blocks(100, **kwargs)


def test_split_for_default_gap_is_the_audio_window_in_frames():
    train = {"val_fraction": 0.15, "test_fraction": 0.15}
    split = split_for(100, fps=15.0, train=train, window_seconds=1.0)
    assert split.gap == 15
    assert split == Split(n=100, train=(0, 40), val=(55, 70), test=(85, 100), gap=15)
    assert split_for(100, fps=30.0, train=train, window_seconds=0.5).gap == 15
    assert split_for(100, fps=10.0, train=train, window_seconds=0.25).gap == 3  # 2.5 frames, rounded up
    assert split_for(100, fps=15.0, train={**train, "gap_frames": None}, window_seconds=1.0).gap == 15


def test_split_for_explicit_gap_frames_wins():
    train = {"val_fraction": 0.15, "test_fraction": 0.15, "gap_frames": 5}
    split = split_for(100, fps=15.0, train=train, window_seconds=1.0)
    assert split == Split(n=100, train=(0, 60), val=(65, 80), test=(85, 100), gap=5)
    assert split_for(100, fps=15.0, train={**train, "gap_frames": 0}, window_seconds=1.0).gap == 0


# ============================================================================ polarity


def test_flip_at_flips_at_each_change():
    out = flip_at(np.array([10, 20]), start=0, stop=30, initial=1)
    assert out.dtype == np.int8
    assert out.tolist() == [1] * 10 + [-1] * 10 + [1] * 10


def test_flip_at_ignores_changes_outside_the_open_range():
    # 0 == start and 30 == stop are not inside (start, stop); -5 and 45 are outside
    out = flip_at(np.array([-5, 0, 10, 30, 45]), start=0, stop=30, initial=-1)
    assert out.tolist() == [-1] * 10 + [1] * 20
    out = flip_at(np.array([5, 12, 40]), start=10, stop=20, initial=1)
    assert out.tolist() == [1] * 2 + [-1] * 8
    assert flip_at(np.array([], np.int64), start=3, stop=7, initial=-1).tolist() == [-1] * 4


def test_hysteresis_keeps_state_between_thresholds():
    prob = np.array([0.5, 0.66, 0.5, 0.36, 0.34, 0.64, 0.65, 0.651, 0.35, 0.349])
    assert hysteresis(prob, initial=DARK).tolist() == [-1, 1, 1, 1, -1, -1, -1, 1, 1, -1]
    assert hysteresis(prob, initial=LIGHT).tolist() == [1, 1, 1, 1, -1, -1, -1, 1, 1, -1]
    # without an initial state the first probability decides it (>= 0.5 is light)
    assert hysteresis(np.array([0.5, 0.4]), initial=None).tolist() == [1, 1]
    assert hysteresis(np.array([0.49, 0.6]), initial=None).tolist() == [-1, -1]
    assert hysteresis(np.array([0.2, 0.9]), initial=None, high=0.95, low=0.1).tolist() == [-1, -1]


def _two_sections(seed: int, n: int = 300, d: int = 8, noise: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=d), rng.normal(size=d)
    half = n // 2
    return np.vstack([a + noise * rng.normal(size=(half, d)), b + noise * rng.normal(size=(n - half, d))])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("seconds", [2.0, 4.0])
def test_novelty_peaks_at_the_section_change(seed, seconds):
    emb = _two_sections(seed)
    frames, value = novelty(emb, fps=FPS, seconds=seconds)
    hop = 3  # 15 fps / 5 points per second
    assert frames.tolist() == list(range(0, 300, hop))
    assert value[0] == 0 and value[-1] == 0  # one side of the comparison is missing at the ends
    assert np.all(value >= 0)
    assert abs(int(frames[np.argmax(value)]) - 150) <= 0.5 * FPS
    changes = section_changes(emb, fps=FPS, seconds=seconds, threshold=0.8)
    assert changes.dtype == np.int64
    assert len(changes) == 1
    assert abs(int(changes[0]) - 150) <= 0.5 * FPS


def test_section_changes_keeps_the_stronger_of_close_peaks():
    frames = np.arange(0, 60, 3)
    value = np.zeros(20)
    value[[5, 7, 15]] = [1.2, 1.5, 0.9]  # frames 15, 21 (0.4 s apart at 15 fps) and 45
    changes = section_changes(np.zeros((60, 2)), fps=FPS, seconds=4.0, threshold=0.8,
                              min_gap_seconds=1.0, curve=(frames, value))
    assert changes.tolist() == [21, 45]
    changes = section_changes(np.zeros((60, 2)), fps=FPS, seconds=4.0, threshold=1.0,
                              min_gap_seconds=0.2, curve=(frames, value))
    assert changes.tolist() == [15, 21]


SECTION = 300  # 20 s at 15 fps
TOY_SPLIT = Split(n=4 * SECTION, train=(0, 500), val=(520, 700), test=(720, 1200), gap=20)
"""Changes at 300 (train), 600 (validation) and 900 (test)."""


def _four_sections(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sections A, B, C, D (equally distinct directions) with polarity +1, -1, +1, -1."""
    rng = np.random.default_rng(seed)
    d = 8
    centres = 2.0 * np.eye(d)[:4]
    emb = np.vstack([c + 0.3 * rng.normal(size=(SECTION, d)) for c in centres]).astype(np.float32)
    truth = np.repeat(np.array([LIGHT, DARK, LIGHT, DARK], np.int8), SECTION)
    return emb, truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_polarity_head_picks_novelty_when_polarity_flips_at_section_changes(seed):
    emb, truth = _four_sections(seed)
    logs: list[str] = []
    head = fit_polarity_head(emb, truth, fps=FPS, split=TOY_SPLIT, log=logs.append)
    assert head.mode == "novelty"
    assert head.scores["val_bacc"] == 1.0
    assert set(head.scores["tried"]) == {"novelty", "classifier"}
    assert len(logs) == 1 and logs[0].startswith("polarity head: novelty")
    lo, hi = TOY_SPLIT.test
    pred = head.predict(emb, fps=FPS, start=lo, stop=hi, initial=int(truth[TOY_SPLIT.known_before("test")]))
    assert pred.shape == (hi - lo,)
    assert balanced_accuracy(pred, truth[lo:hi]) >= 0.9
    # its JSON config and arrays restore the same head
    again = PolarityHead.from_state(json.loads(json.dumps(head.config())), head.arrays())
    assert np.array_equal(again.predict(emb, fps=FPS, start=lo, stop=hi, initial=LIGHT),
                          head.predict(emb, fps=FPS, start=lo, stop=hi, initial=LIGHT))


def test_fit_polarity_head_with_one_polarity_in_training_is_off():
    emb, _ = _four_sections(0)
    truth = np.where(np.arange(len(emb)) < 600, LIGHT, DARK).astype(np.int8)  # train (0, 500) all light
    logs: list[str] = []
    head = fit_polarity_head(emb, truth, fps=FPS, split=TOY_SPLIT, log=logs.append)
    assert head.mode == "constant"
    assert head.constant == LIGHT
    assert len(logs) == 1
    assert "polarity head off" in logs[0] and "100% light" in logs[0]
    assert head.predict(emb, fps=FPS, start=720, stop=730).tolist() == [LIGHT] * 10
    assert head.predict(emb, fps=FPS, start=720, stop=730, initial=DARK).tolist() == [DARK] * 10
    assert head.arrays() == {}


def test_polarity_head_novelty_predict_is_flip_at_of_section_changes():
    emb, _ = _four_sections(1)
    head = PolarityHead(mode="novelty", seconds=4.0, threshold=0.8, constant=DARK)
    changes = section_changes(emb, fps=FPS, seconds=4.0, threshold=0.8)
    assert len(changes) == 3
    assert all(abs(int(c) - k * SECTION) <= 0.5 * FPS for c, k in zip(changes, (1, 2, 3)))
    pred = head.predict(emb, fps=FPS, start=100, stop=1000, initial=LIGHT)
    assert np.array_equal(pred, flip_at(changes, start=100, stop=1000, initial=LIGHT))
    assert head.predict(emb, fps=FPS, start=100, stop=100).shape == (0,)


# =========================================================================== retrieval


def test_successors():
    assert successors(np.array([0, 1, 2, 5, 6])).tolist() == [1, 2, -1, 4, -1]
    assert successors(np.array([7, 3, 4, 8])).tolist() == [3, 2, -1, -1]
    assert successors(np.array([], np.int64)).tolist() == []


RUN = 20
LIB_FRAMES = np.r_[np.arange(0, RUN), np.arange(30, 30 + RUN)]
"""Two runs of the training video: frames 0..19 (light) and 30..49 (dark)."""


def _library(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    e1, e2 = np.eye(4)[0], np.eye(4)[1]
    emb = np.vstack([e1 + 0.05 * rng.normal(size=(RUN, 4)), e2 + 0.05 * rng.normal(size=(RUN, 4))])
    polarity = np.r_[np.full(RUN, LIGHT), np.full(RUN, DARK)]
    return emb, polarity


def _jumps(path: np.ndarray, succ: np.ndarray) -> int:
    return int(np.sum(succ[path[:-1]] != path[1:]))


@pytest.mark.parametrize("loop_frames", [0, 15])
def test_choose_path_plays_the_matching_run(loop_frames):
    lib, lib_pol = _library()
    succ = successors(LIB_FRAMES)
    n = 30
    pred = np.tile(np.eye(4)[0], (n, 1))
    path = choose_path(pred, lib, library_polarity=lib_pol, polarity=np.full(n, LIGHT), cuts=np.zeros(n, bool),
                       successor=succ, loop_frames=loop_frames)
    assert path.shape == (n,) and path.dtype == np.int64
    assert np.all(path < RUN)  # the first run only
    assert 1 <= _jumps(path, succ) <= 2  # 30 frames from a 20-frame run need one jump


def test_choose_path_follows_planned_polarity():
    lib, lib_pol = _library()
    succ = successors(LIB_FRAMES)
    n = 30
    pred = np.tile(np.eye(4)[0], (n, 1))  # still looks like the first run
    polarity = np.where(np.arange(n) < 10, LIGHT, DARK)
    path = choose_path(pred, lib, library_polarity=lib_pol, polarity=polarity, cuts=np.zeros(n, bool),
                       successor=succ)
    assert np.all(path[:10] < RUN)
    assert np.all(path[10:] >= RUN)
    assert _jumps(path[10:], succ) <= 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_choose_path_jumps_less_when_jumps_are_dear(seed):
    lib, lib_pol = _library()
    succ = successors(LIB_FRAMES)
    n = 30
    rng = np.random.default_rng(seed)
    pred = np.eye(4)[0] + 0.5 * rng.normal(size=(n, 4))
    kw = dict(library_polarity=lib_pol, polarity=np.full(n, LIGHT), successor=succ)
    calm = choose_path(pred, lib, cuts=np.zeros(n, bool), config=PathConfig(jump_cost=20.0), **kw)
    cut = choose_path(pred, lib, cuts=np.ones(n, bool), config=PathConfig(jump_cost=20.0, cut_discount=0.1), **kw)
    free = choose_path(pred, lib, cuts=np.ones(n, bool), config=PathConfig(jump_cost=2.0, cut_discount=0.0), **kw)
    assert _jumps(calm, succ) <= _jumps(cut, succ) <= _jumps(free, succ)
    # with free jumps every frame is the nearest library frame
    target = np.sum((lib[None, :, :] - pred[:, None, :]) ** 2, axis=2) + 50.0 * (lib_pol[None, :] != LIGHT)
    assert free.tolist() == np.argmin(target, axis=1).tolist()


def test_choose_path_edge_cases():
    lib, lib_pol = _library()
    succ = successors(LIB_FRAMES)
    empty = choose_path(np.zeros((0, 4)), lib, library_polarity=lib_pol, polarity=np.zeros(0, int),
                        cuts=np.zeros(0, bool), successor=succ)
    assert empty.shape == (0,)
    with pytest.raises(ModelError, match="library is empty"):
        choose_path(np.zeros((3, 4)), np.zeros((0, 4)), library_polarity=np.zeros(0, int),
                    polarity=np.ones(3, int), cuts=np.zeros(3, bool), successor=np.zeros(0, np.int64))


def _plan(source: int, *, jump: bool, cut: bool = False, strength: float = 1.0) -> FramePlan:
    return FramePlan(embedding=np.zeros(2, np.float32), cut=cut, strength=strength, polarity=1,
                     source=source, jump=jump)


def _solid_frames(n: int = 5, h: int = 6, w: int = 8) -> np.ndarray:
    """Frame ``k`` is solid grey ``10 + 40 k``."""
    return np.stack([np.full((h, w, 3), 10 + 40 * k, np.uint8) for k in range(n)])


def test_retrieval_renderer_shows_the_planned_sources_resized():
    frames = _solid_frames()
    renderer = RetrievalRenderer(frames, (4, 3))
    assert renderer.name == "retrieval" and renderer.size == (4, 3)
    plans = [_plan(2, jump=True, cut=True), _plan(3, jump=False, strength=0.5), _plan(1, jump=True, cut=True),
             _plan(1, jump=True, cut=True, strength=0.5), _plan(4, jump=False, strength=0.2)]
    out = renderer.render(plans, None, start=0)
    assert out.shape == (5, 3, 4, 3) and out.dtype == np.uint8
    assert [int(v) for v in out[:, 0, 0, 0]] == [90, 130, 50, 50, 170]
    assert all(np.all(out[i] == out[i, 0, 0, 0]) for i in range(5))


def test_retrieval_renderer_resizes_structure():
    frame = np.zeros((6, 8, 3), np.uint8)
    frame[:, 4:] = 200  # left half black, right half 200
    out = RetrievalRenderer(frame[None], (4, 3)).render([_plan(0, jump=True, cut=True)], None, start=0)
    assert out[0, :, :2].max() == 0 and out[0, :, 2:].min() == 200
    same = RetrievalRenderer(frame[None], (8, 6)).render([_plan(0, jump=True, cut=True)], None, start=0)
    assert np.array_equal(same[0], frame)


def test_retrieval_renderer_crossfades_a_calm_jump():
    frames = _solid_frames()  # frame 0 is 10, frame 3 is 130
    renderer = RetrievalRenderer(frames, (8, 6))
    plans = [_plan(3, jump=True, cut=True), _plan(0, jump=True, cut=False, strength=0.5)]
    out = renderer.render(plans, None, start=0)
    assert int(out[1, 2, 3, 1]) == 70  # 0.5 * 10 + 0.5 * 130
    # across chunks: ``previous`` is the last frame of the chunk before
    out = renderer.render([_plan(0, jump=True, strength=0.25)], frames[4], start=7)  # 170 before
    assert int(out[0, 0, 0, 0]) == round(0.25 * 10 + 0.75 * 170)
    # no crossfade for a cut, for a played successor, at the very start, or when switched off
    assert int(renderer.render([_plan(0, jump=True, cut=True, strength=0.5)], frames[3], start=0)[0, 0, 0, 0]) == 10
    assert int(renderer.render([_plan(0, jump=False, strength=0.5)], frames[3], start=0)[0, 0, 0, 0]) == 10
    assert int(renderer.render([_plan(0, jump=True, strength=0.5)], None, start=0)[0, 0, 0, 0]) == 10
    off = RetrievalRenderer(frames, (8, 6), crossfade=False)
    assert int(off.render([_plan(0, jump=True, strength=0.5)], frames[3], start=0)[0, 0, 0, 0]) == 10


def test_retrieval_renderer_rejects_bad_size():
    with pytest.raises(ModelError):
        RetrievalRenderer(_solid_frames(), (0, 3))


# ============================================================================== bundle

N = 200


def _data(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    second = np.arange(N) >= N // 2
    audio = np.where(second[:, None], 1.0, -1.0) * np.eye(8)[0] + 0.3 * rng.normal(size=(N, 8))
    return {
        "fps": FPS,
        "n": N,
        "audio": {"emb": audio.astype(np.float32), "name": "builtin-audio", "dim": 8, "config": {}, "state": {}},
        "image": {"emb": rng.normal(size=(N, 5)).astype(np.float32), "name": "builtin-image", "dim": 5,
                  "config": {}, "state": {}},
    }


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A painter fitted on :func:`_data`, and the folder it was saved to."""
    from avstudio.mapper.train import TrainConfig
    from avstudio.painter.bundle import fit_painter

    data = _data()
    brightness = np.where(np.arange(N) < N // 2, 220.0, 40.0)  # light first section, dark second
    split = split_blocks(N, val_fraction=0.15, test_fraction=0.15, gap=5)
    logs: list[str] = []
    painter = fit_painter(data, brightness=brightness, split=split,
                          train_config=TrainConfig(epochs=3, hidden=16, patience=2), context_seconds=1.0,
                          fingerprints={"data": "fp-data", "extract": "fp-extract"}, frame_shape=(6, 8),
                          log=logs.append)
    root = tmp_path_factory.mktemp("painters")
    path = painter.save(root, "p1")
    return painter, path, data, logs


def test_fit_painter_records_what_it_was_trained_on(fitted):
    from avstudio.mapper import checkpoint

    painter, path, data, logs = fitted
    config = painter.config
    assert BUNDLE_FORMAT == checkpoint.FORMAT == 2  # what the bundle writes is what listing accepts
    assert config["format"] == BUNDLE_FORMAT
    assert config["split"] == {"n": 200, "train": [0, 130], "val": [135, 165], "test": [170, 200], "gap": 5}
    assert (config["n_train"], config["n_val"], config["n_test"]) == (130, 30, 30)
    assert config["mapper"]["in_dim"] == 16 and config["mapper"]["out_dim"] == 5  # 8-d audio plus its context
    assert config["encoders"]["audio"] == {"name": "builtin-audio", "dim": 8, "config": {}}
    assert config["data_fingerprint"] == "fp-data" and config["extract_fingerprint"] == "fp-extract"
    assert config["library"] == {"n_video_frames": 200, "frame_shape": [6, 8], "block": "train"}
    assert config["best"] is False
    assert isinstance(config["selection_loss"], float) and config["selection_loss"] > 0
    assert painter.arrays["library.frames"].tolist() == list(range(130))
    assert painter.arrays["library.polarity"].tolist() == [1] * 100 + [-1] * 30
    assert np.array_equal(painter.arrays["library.embeddings"], data["image"]["emb"][:130])
    assert len(painter.metrics["history"]) == 3
    assert logs[0].startswith("best epoch ") and logs[1].startswith("polarity head: ")


def test_painter_save_load_round_trip(fitted):
    from avstudio.painter.bundle import FORMAT, Painter

    painter, path, data, _ = fitted
    assert path.name == "p1"
    assert json.loads((path / "config.json").read_text())["format"] == FORMAT
    loaded = Painter.load(path)
    assert loaded.name == "p1" and loaded.path == path
    assert loaded.split == painter.split
    assert loaded.head.config() == painter.head.config()
    assert set(loaded.arrays) == set(painter.arrays)
    for key, value in painter.arrays.items():
        assert np.array_equal(loaded.arrays[key], value), key
    audio = data["audio"]["emb"]
    pred = painter.predict(audio)
    assert pred.shape == (N, 5) and pred.dtype == np.float32
    assert np.array_equal(loaded.predict(audio), pred)
    onset = np.random.default_rng(3).random(N).astype(np.float32)
    lo, hi = painter.split.test
    kw = dict(temporal={}, backend="retrieval", start=lo, stop=hi, initial_polarity=-1)
    plans, again = painter.plan(audio, onset, **kw), loaded.plan(audio, onset, **kw)
    assert len(plans) == hi - lo
    sources = [p.source for p in plans]
    assert sources == [p.source for p in again]
    assert [p.jump for p in plans] == [p.jump for p in again]
    assert all(0 <= s < 130 for s in sources)  # training frames only
    assert plans[0].jump and all(p.jump == (i == 0 or sources[i] != sources[i - 1] + 1)
                                 for i, p in enumerate(plans))
    assert [p.polarity for p in plans] == [p.polarity for p in again]
    assert Painter.pick(path.parent, "p1").name == "p1"
    info = [i for i in list_checkpoints(path.parent) if i.name == "p1"][0]
    assert info.broken is None


def test_painter_of_another_format_is_refused_and_listed_broken(fitted, tmp_path):
    from avstudio.painter.bundle import Painter

    _, path, _, _ = fitted
    old = tmp_path / "p1"
    shutil.copytree(path, old)
    config = json.loads((old / "config.json").read_text())
    config["format"] = 1
    (old / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError) as info:
        Painter.load(old)
    assert "format 1" in info.value.message
    assert "p1" in info.value.message
    assert info.value.hint
    [listed] = list_checkpoints(tmp_path)
    assert listed.name == "p1"
    assert listed.broken is not None and "format 1" in listed.broken
    with pytest.raises(ModelError):
        pick_checkpoint(tmp_path, "latest")


# ========================================================================= checkpoints

MAPPER = MapperConfig(6, 4, hidden=8, depth=1, dropout=0.0)


def _save(root: Path, name: str, *, fingerprint: str = "fp-a", loss: float | None = 1.0, best: bool = False,
          created: str = "2026-01-01T00:00:00+00:00", fmt: int = BUNDLE_FORMAT) -> Path:
    rng = np.random.default_rng(len(name))
    config = {"format": fmt, "mapper": MAPPER.to_dict(), "data_fingerprint": fingerprint, "best": best,
              "created": created}
    if loss is not None:
        config["selection_loss"] = loss
    return save_checkpoint(root, name, config=config, metrics={"history": []},
                           state_dict={k: rng.normal(size=s).astype(np.float32)
                                       for k, s in expected_shapes(MAPPER).items()})


def _marked(root: Path) -> dict[str, bool]:
    return {i.name: i.best for i in list_checkpoints(root)}


def test_mark_best_marks_exactly_the_lowest_selection_loss_of_the_current_data(tmp_path):
    _save(tmp_path, "a", loss=0.5)
    _save(tmp_path, "b", loss=0.3)
    _save(tmp_path, "c", loss=0.4, best=True)  # the previous best
    _save(tmp_path, "d", fingerprint="fp-old", loss=0.1, best=True)  # lower loss, other data
    _save(tmp_path, "e", loss=None)  # no selection loss recorded
    assert mark_best(tmp_path, data_fingerprint="fp-a") == "b"
    assert _marked(tmp_path) == {"a": False, "b": True, "c": False, "d": False, "e": False}
    assert json.loads((tmp_path / "b" / "config.json").read_text())["best"] is True
    assert pick_checkpoint(tmp_path, "best").name == "b"
    # a new, better checkpoint takes over; marking again changes nothing else
    _save(tmp_path, "f", loss=0.2)
    assert mark_best(tmp_path, data_fingerprint="fp-a") == "f"
    assert _marked(tmp_path) == {"a": False, "b": False, "c": False, "d": False, "e": False, "f": True}
    assert mark_best(tmp_path, data_fingerprint="fp-a") == "f"
    assert pick_checkpoint(tmp_path, "best").name == "f"


def test_mark_best_ties_break_by_name_and_other_data_unmarks_all(tmp_path):
    _save(tmp_path, "y", loss=0.25)
    _save(tmp_path, "x", loss=0.25)
    assert mark_best(tmp_path, data_fingerprint="fp-a") == "x"
    assert _marked(tmp_path) == {"x": True, "y": False}
    assert mark_best(tmp_path, data_fingerprint="fp-new") is None
    assert _marked(tmp_path) == {"x": False, "y": False}
    with pytest.raises(ModelError, match="no checkpoint marked best"):
        pick_checkpoint(tmp_path, "best")


def test_mark_best_ignores_broken_folders(tmp_path):
    _save(tmp_path, "old", loss=0.01, fmt=1)  # another bundle format: broken
    _save(tmp_path, "new", loss=0.5)
    assert mark_best(tmp_path, data_fingerprint="fp-a") == "new"
    assert pick_checkpoint(tmp_path, "best").name == "new"


def test_mark_best_unmarks_a_broken_folder_that_was_best(tmp_path):
    _save(tmp_path, "old", loss=0.01, fmt=1, best=True)
    _save(tmp_path, "new", loss=0.5)
    assert mark_best(tmp_path, data_fingerprint="fp-a") == "new"
    assert _marked(tmp_path) == {"old": False, "new": True}


def test_pick_checkpoint_by_unique_part_and_ambiguity(tmp_path):
    _save(tmp_path, "painter-20260101-000000", created="2026-01-01T00:00:00+00:00")
    _save(tmp_path, "painter-20260102-000000", created="2026-01-02T00:00:00+00:00")
    _save(tmp_path, "p1", created="2025-01-01T00:00:00+00:00")
    _save(tmp_path, "p1b", created="2025-01-02T00:00:00+00:00")
    assert pick_checkpoint(tmp_path, "0102").name == "painter-20260102-000000"
    assert pick_checkpoint(tmp_path, "20260101").name == "painter-20260101-000000"
    assert pick_checkpoint(tmp_path, "latest").name == "painter-20260102-000000"
    assert pick_checkpoint(tmp_path, "p1").name == "p1"  # an exact name wins over a part of "p1b"
    assert pick_checkpoint(tmp_path, "1b").name == "p1b"
    with pytest.raises(ModelError) as info:
        pick_checkpoint(tmp_path, "painter-2026")
    message = info.value.message
    assert "ambiguous" in message
    assert "painter-20260101-000000" in message and "painter-20260102-000000" in message
    assert "p1b" not in message
    with pytest.raises(ModelError) as info:
        pick_checkpoint(tmp_path, "zzz")
    assert "zzz" in info.value.message and "p1b" in info.value.hint


def test_evaluation_summary_flattens_rows_and_adds_errors(tmp_path):
    path = _save(tmp_path, "e1")
    assert evaluation_summary(path) == {}
    rows = {"painter": {"iou": 0.5, "crispness": 3.0, "truth_crispness": 2.0, "change_ratio": 2.0},
            "mean_frame": {"mae": 12.0, "flicker": 1.0, "truth_flicker": 1.5}}
    (path / "evaluation.json").write_text(json.dumps({"subsets": {"music": {"rows": rows}}}))
    assert evaluation_summary(path) == {
        "painter.iou": 0.5, "painter.crispness": 3.0, "painter.crispness_error": 1.0,
        "painter.change_ratio": 2.0, "painter.change_ratio_error": math.log(2.0),
        "mean_frame.mae": 12.0, "mean_frame.flicker": 1.0, "mean_frame.flicker_error": 0.5,
    }
    assert evaluation_summary(path, subset="other") == {}
    info = [i for i in list_checkpoints(tmp_path) if i.name == "e1"][0]
    assert info.metrics["painter.iou"] == 0.5 and info.metrics["selection_loss"] == 1.0


# ======================================================================== import graph

CORE_MODULES = (
    "avstudio.painter.bundle", "avstudio.painter.song", "avstudio.evaluate.holdout", "avstudio.evaluate.preview",
    "avstudio.evaluate.compare", "avstudio.render.painter", "avstudio.render.builtin", "avstudio.mapper.checkpoint",
    "avstudio.encoders.windows", "avstudio.media.encode", "avstudio.workspace.workspace",
)


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_core_modules_do_not_import_the_stages():
    out = _run(
        "import importlib, json, sys\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'avstudio.stages' "
        "or m.startswith('avstudio.stages.'))))\n"
    )
    assert json.loads(out) == []


def test_painter_bundle_does_not_import_torch():
    out = _run("import sys, avstudio.painter.bundle\nprint('torch' in sys.modules, 'safetensors' in sys.modules)")
    assert out.split() == ["False", "False"]


def _stages_mentions(path: Path) -> tuple[list[int], list[int]]:
    """Lines importing ``avstudio.stages`` and lines of other string literals naming it (not docstrings)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    imports, strings = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and (
                node.module == "avstudio.stages" or node.module.startswith("avstudio.stages.")):
            imports.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "avstudio" and any(
                a.name == "stages" for a in node.names):
            imports.append(node.lineno)
        elif isinstance(node, ast.Import) and any(
                a.name == "avstudio.stages" or a.name.startswith("avstudio.stages.") for a in node.names):
            imports.append(node.lineno)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and "avstudio.stages" in node.value
              and id(node) not in docstrings):
            strings.append(node.lineno)
    return imports, strings


def test_only_the_workspace_imports_the_stages_and_lazily():
    package = ROOT / "avstudio"
    skip = {package / "stages", package / "cli", package / "tui"}
    found, mentions = {}, []
    for path in sorted(package.rglob("*.py")):
        if any(folder in path.parents for folder in skip):
            continue
        rel = path.relative_to(ROOT).as_posix()
        imports, strings = _stages_mentions(path)
        if imports or strings:
            found[rel] = imports + strings
        if "avstudio.stages" in path.read_text():
            mentions.append(rel)
    assert list(found) == ["avstudio/workspace/workspace.py"], found
    # every textual mention elsewhere is documentation only (the only one today: avstudio/pipeline/stage.py)
    assert set(mentions) - {"avstudio/workspace/workspace.py"} <= {"avstudio/pipeline/stage.py"}
    # and the workspace imports the pipeline inside a function, not at import time
    tree = ast.parse((package / "workspace" / "workspace.py").read_text())
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not any((getattr(n, "module", None) or "").startswith("avstudio.stages") for n in top_level)
