"""The test-block evaluation of a painter, next to baselines measured the same way.

The painter paints the test block (the last ``train.test_fraction`` of the
video, never trained on, never used to choose anything) with the full temporal
logic, at the output size, starting from the scene polarity of the last frame
before the block, exactly as ``paint`` would. Every candidate is scored by
:func:`avstudio.evaluate.report.score_table` on the frames with audible music
and, separately, on silent stretches:

* ``painter`` - what the painter paints;
* ``mean_frame`` - the mean training frame;
* ``majority_frame`` - the mean training frame of the majority polarity;
* ``all_black``, ``all_white``;
* ``audio_nn`` - the training frame whose sound is nearest (audio nearest neighbour);
* ``polarity_oracle`` - the mean training frame of each test frame's *true* polarity.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from avstudio.cancel import NEVER, CancelToken
from avstudio.painter.polarity import light_or_dark

AUDIBLE_RMS = 10 ** (-45 / 20)
"""A frame is "music" when its audio RMS is above -45 dBFS."""
PREVIEW_ROWS = 8
BASELINES = ("mean_frame", "majority_frame", "all_black", "all_white", "audio_nn", "polarity_oracle")


def _resize(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    width, height = size
    if frames.shape[1:3] == (height, width):
        return frames
    flag = cv2.INTER_AREA if frames.shape[2] > width else cv2.INTER_CUBIC
    return np.stack([cv2.resize(f, (width, height), interpolation=flag) for f in frames])


def preview_rows(n: int, rows: int = PREVIEW_ROWS) -> np.ndarray:
    """Evenly spaced positions [shape=(k,), int] in a block of ``n`` frames (contact-sheet rows)."""
    return np.linspace(0, n - 1, min(rows, n)).round().astype(int) if n else np.zeros(0, int)


def paint_test_block(painter: Any, *, frames: Any, audio_emb: np.ndarray, onset: np.ndarray, brightness: np.ndarray,
                     temporal: dict[str, Any], render: dict[str, Any], size: tuple[int, int],
                     base_dir: str | None = None, cancel: CancelToken = NEVER,
                     log: Callable[[str], None] = lambda m: None) -> tuple[list[Any], np.ndarray]:
    """The painter's plans and frames [shape=(n_test, h, w, 3), uint8] for its test block, painted as
    ``paint`` does, starting from the true polarity of the last frame before the block."""
    lo, hi = painter.split.test
    known = painter.split.known_before("test")
    initial = int(light_or_dark(brightness[known:known + 1])[0]) if known >= 0 else None
    plans = painter.plan(audio_emb, onset, temporal=temporal, backend=render["backend"], start=lo, stop=hi,
                         initial_polarity=initial, max_segment_seconds=render["max_segment_seconds"])
    renderer = painter.renderer(render, size=size, frames=frames, base_dir=base_dir, cancel=cancel)
    log(f"painting the test block: frames {lo}..{hi - 1} ({(hi - lo) / painter.fps:.1f} s) with {renderer.name}")
    return plans, painter.render_all(plans, renderer, start=lo, cancel=cancel)


def evaluate_painter(painter: Any, *, frames: Any, audio_emb: np.ndarray, onset: np.ndarray, brightness: np.ndarray,
                     rms: np.ndarray | None, temporal: dict[str, Any], render: dict[str, Any], size: tuple[int, int],
                     base_dir: str | None = None, cancel: CancelToken = NEVER,
                     log: Callable[[str], None] = lambda m: None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Paint the test block and score it against the baselines.

    Parameters
    ----------
    painter : Painter
    frames : sliceable [shape=(n, h, w, 3), uint8]
        The video's true frames (the store's ``extract/frames``).
    audio_emb : np.ndarray [shape=(n, d), float32]
    onset, brightness : np.ndarray [shape=(n,), float]
        Per-frame onset strength and true mean brightness.
    rms : np.ndarray [shape=(n,), float] or None
        Per-frame audio RMS (None: no sound, every frame is silent).
    temporal, render : dict
        The manifest's ``[temporal]`` and ``[render]`` tables.
    size : (int, int)
        Output ``(width, height)``.

    Returns
    -------
    report : dict
        ``{"block": [lo, hi], "render": ..., "subsets": score_table(...), "preview": [frame indices]}``.
    preview : dict of str to np.ndarray [shape=(rows, h, w, 3), uint8]
        ``true``, ``mean frame``, ``painted`` at the preview rows.
    """
    from avstudio.evaluate.baselines import mean_frame, nearest_neighbour_baseline
    from avstudio.evaluate.report import ImageSpace, score_table
    from avstudio.mapper.context import mapper_inputs

    split = painter.split
    lo, hi = split.test
    train = split.indices("train")
    truth_polarity = light_or_dark(brightness)
    plans, painted = paint_test_block(painter, frames=frames, audio_emb=audio_emb, onset=onset, brightness=brightness,
                                      temporal=temporal, render=render, size=size, base_dir=base_dir, cancel=cancel,
                                      log=log)
    truth = _resize(np.asarray(frames[lo:hi]), size)

    width, height = size
    mean = _resize(mean_frame(frames, indices=train)[None], size)[0]
    light = train[truth_polarity[train] > 0]
    dark = train[truth_polarity[train] < 0]
    by_polarity = {1: _resize(mean_frame(frames, indices=light)[None], size)[0] if len(light) else mean,
                   -1: _resize(mean_frame(frames, indices=dark)[None], size)[0] if len(dark) else mean}
    majority = 1 if len(light) >= len(dark) else -1
    n = hi - lo
    inputs = mapper_inputs(painter.config, audio_emb)
    nn = nearest_neighbour_baseline(inputs[train], train, inputs[lo:hi])
    order = np.argsort(nn)
    nn_frames = np.empty((n, height, width, 3), np.uint8)
    for k, idx in zip(order, nn[order]):
        nn_frames[k] = _resize(np.asarray(frames[int(idx)])[None], size)[0]
    constant = lambda frame: np.broadcast_to(frame, (n, height, width, 3))  # noqa: E731 - a view, no copies
    oracle = np.stack([by_polarity[int(p)] for p in truth_polarity[lo:hi]])
    candidates = {
        "painter": painted,
        "mean_frame": constant(mean),
        "majority_frame": constant(by_polarity[majority]),
        "all_black": constant(np.zeros((height, width, 3), np.uint8)),
        "all_white": constant(np.full((height, width, 3), 255, np.uint8)),
        "audio_nn": nn_frames,
        "polarity_oracle": oracle,
    }
    music = np.zeros(n, bool) if rms is None else np.asarray(rms[lo:hi]) > AUDIBLE_RMS
    if not music.any():
        log("the test block has no audible music: scores are on silent frames only")
    space = ImageSpace.fit(_TrainFrames(frames, train, size))
    subsets = score_table(candidates, truth, space=space, masks={"music": music, "silent": ~music})
    rows = preview_rows(n)
    report = {"block": [int(lo), int(hi)], "fps": painter.fps, "checkpoint": painter.name,
              "render": {k: render[k] for k in ("backend", "crispness")}, "size": list(size),
              "subsets": subsets, "preview": [int(lo + r) for r in rows],
              "cuts": int(sum(p.cut for p in plans)),
              "polarity_switches": int(np.count_nonzero(np.diff([p.polarity for p in plans])))}
    preview = {"true": truth[rows], "mean frame": np.repeat(mean[None], len(rows), axis=0), "painted": painted[rows]}
    return report, preview


class _TrainFrames:
    """The training block's frames at the output size, sliceable like an array (for ImageSpace.fit)."""

    def __init__(self, frames: Any, indices: np.ndarray, size: tuple[int, int]) -> None:
        self.frames, self.indices, self.size = frames, indices, size
        self.shape = (len(indices), size[1], size[0], 3)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: slice) -> np.ndarray:
        idx = self.indices[key]
        if not len(idx):
            return np.zeros((0, *self.shape[1:]), np.uint8)
        return _resize(np.asarray(self.frames[int(idx[0]):int(idx[-1]) + 1])[idx - idx[0]], self.size)


def summary_line(report: dict[str, Any], subset: str = "music") -> str:
    """One log line: the painter's scores next to the best trivial baseline's."""
    rows = report["subsets"].get(subset, {}).get("rows", {})
    if "painter" not in rows:
        return f"no {subset} frames in the test block"
    p = rows["painter"]
    return (f"test block ({subset}, {report['subsets'][subset]['n_frames']} frames): polarity {p['polarity_bacc']:.2f}, "
            f"brightness r {p['brightness_r']:.2f}, IoU {p['iou']:.3f}, MAE {p['mae']:.1f}, crispness "
            f"{p['crispness']:.2f} (truth {p['truth_crispness']:.2f}), realism KID {p['realism_kid']:.3f} "
            f"(mean frame {rows['mean_frame']['realism_kid']:.3f}), change {p['change_ratio']:.2f}x truth")


ARROWS = {"higher": "↑", "lower": "↓", "truth": "≈truth", "one": "≈1"}
ASCII_ARROWS = {"higher": "higher", "lower": "lower", "truth": "~truth", "one": "~1"}
"""Directions for pictures (the Hershey font draws ASCII only)."""


def evaluation_cells(report: dict[str, Any], subset: str, *,
                     arrows: dict[str, str] = ARROWS) -> tuple[list[str], list[list[str]], list[list[bool]]]:
    """One subset of the report as a table: header, rows of cells, and which cells are the best.

    Returns
    -------
    header : list of str
        ``["", metric...]``; the second row of ``rows`` holds each metric's direction.
    rows : list of list of str
        Direction row, one row per candidate (painter first), then the truth's own values.
    best : list of list of bool
        Same shape as ``rows``: True where the value is the best for its metric.
    """
    from avstudio.evaluate.report import METRICS

    entry = report["subsets"][subset]
    found = entry.get("rows", {})
    order = ("painter",) + BASELINES
    rows = [["better is"] + [arrows[better] for _, better in METRICS.values()]]
    best = [[False] * len(rows[0])]
    for who in sorted(found, key=lambda w: order.index(w) if w in order else len(order)):
        rows.append([who] + [_cell(found[who][m]) for m in METRICS])
        best.append([False] + [who in entry["best"].get(m, []) for m in METRICS])
    truth = found.get("painter", {})
    rows.append(["truth"] + [_cell(truth["truth_" + m]) if f"truth_{m}" in truth else "" for m in METRICS])
    best.append([False] * len(rows[0]))
    return [""] + list(METRICS), rows, best


def _cell(value: float) -> str:
    """Three decimals; small non-zero values (flicker) in scientific notation so they stay visible."""
    return f"{value:.1e}" if value and abs(value) < 0.005 else f"{value:.3f}"


def block_title(report: dict[str, Any], subset: str) -> str:
    """``test block 76.5-90.0 s, music frames: 202``."""
    lo, hi = report["block"]
    entry = report["subsets"][subset]
    return (f"test block {lo / report['fps']:.1f}-{hi / report['fps']:.1f} s, {subset} frames: {entry['n_frames']}"
            + ("" if entry.get("rows") else " (too few to score)"))


def evaluation_table(report: dict[str, Any]) -> list[str]:
    """The report as text lines: one table per subset (music, silent), a row per candidate,
    a column per metric, ``*`` on the best value of each metric (never a blended score)."""
    lines = []
    for subset, entry in report["subsets"].items():
        lines.append("\n" + block_title(report, subset))
        if not entry.get("rows"):
            continue
        header, rows, best = evaluation_cells(report, subset)
        lines.append(f"{'':<16}" + "".join(f"{name:>14}" for name in header[1:]))
        for row, marks in zip(rows, best):
            cells = [c + ("*" if m else " ") for c, m in zip(row[1:], marks[1:])]
            lines.append(f"{row[0]:<16}" + "".join(f"{c:>14}" for c in cells))
    return lines
