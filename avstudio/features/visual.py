"""Per-frame visual features, computed chunk by chunk.

Per-pixel work is done by OpenCV on blocks of frames viewed as one tall image
(``(m * h, w, 3)``, a few per call so the scratch stays in cache), optical flow
runs at a small resolution, and a chunk is split between worker threads.
OpenCV releases the GIL, so this also overlaps with the decode thread of
:func:`avstudio.media.decode.iter_frames`.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from avstudio.errors import StageError

FEATURE_NAMES: tuple[str, ...] = ("avg_color", "brightness", "contrast", "mass_fraction", "mass", "motion")
"""The keys of :meth:`VisualFeatureExtractor.update`'s result, in order."""

DEFAULT_FLOW_SIZE = 48
"""Largest side, in pixels, of the frames optical flow runs on.

Farneback's cost grows with the pixel count (~0.13 us per pixel on one core
of the 2-core build machine) and dominates the extractor: for 320x240 frames
the whole update costs ~0.50 ms of CPU a frame with flow at 64x48, ~0.30 ms
at 45x34 (48) and ~0.21 ms at 32x24 (32). Decoding costs ~0.27 ms, so only
48 or less lets extract + features run at half the speed of a bare decode on
two cores. Quality drops with the size: on Big Buck Bunny the motion curve
correlates 0.98 (64), 0.91 (48) and 0.86 (32) with flow computed at 128 px.
"""

_SCRATCH_PIXELS = 1 << 20
"""Pixels per frame block in the per-pixel pass (see ``update``)."""

FARNEBACK_PARAMS = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
"""``cv2.calcOpticalFlowFarneback`` settings, as in the original project."""


def flow_grid(width: int, height: int, flow_size: int) -> tuple[int, int, int]:
    """How frames are shrunk for optical flow.

    Each flow pixel is the mean of a ``k x k`` block of frame pixels, with the
    smallest integer ``k`` that brings the longest side down to ``flow_size``
    or less (never upscaled). The at most ``k - 1`` rightmost columns and
    bottom rows that do not fill a block are left out. Integer blocks keep the
    shrink exact and fast (OpenCV's area-averaging fast path).

    Returns
    -------
    (k, fw, fh) : tuple of int
        Block size and flow resolution.
    """
    k = max(1, -(-max(width, height) // flow_size))  # ceil
    return k, max(1, width // k), max(1, height // k)


def flow_resolution(width: int, height: int, flow_size: int) -> tuple[int, int]:
    """The (w, h) optical flow runs at for frames of ``width x height``."""
    _, fw, fh = flow_grid(width, height, flow_size)
    return fw, fh


class VisualFeatureExtractor:
    """Compute per-frame colour, brightness, contrast, mass and motion.

    Feed consecutive chunks of one video to :meth:`update`; the extractor keeps
    the last small grey frame, so results do not depend on chunk boundaries.
    Each chunk is split between ``threads`` worker threads (OpenCV releases
    the GIL), which also lets the work overlap with a decode thread.

    Parameters
    ----------
    source_size : (W, H)
        Size of the source video. ``mass`` and ``motion`` are reported in
        source pixels even when the frames were decoded smaller.
    mass_range : (lo, hi)
        A pixel counts towards ``mass`` when all three channels lie in
        ``[lo, hi]`` (inclusive). The default ``(0, 100)`` counts dark pixels.
    flow_size : int
        Largest side in pixels of the resolution optical flow runs at
        (see :data:`DEFAULT_FLOW_SIZE` and :func:`flow_grid`).
    threads : int, optional
        Worker threads; default ``min(4, os.cpu_count())``.

    Examples
    --------
    >>> ex = VisualFeatureExtractor(source_size=(64, 48))
    >>> frames = np.full((2, 48, 64, 3), (200, 100, 50), np.uint8)
    >>> feats = ex.update(frames)
    >>> round(float(feats["brightness"][0]), 1)
    124.0
    """

    def __init__(
        self,
        *,
        source_size: tuple[int, int],
        mass_range: tuple[int, int] = (0, 100),
        flow_size: int = DEFAULT_FLOW_SIZE,
        threads: int | None = None,
    ) -> None:
        lo, hi = (int(v) for v in mass_range)
        if not 0 <= lo <= hi <= 255:
            raise StageError(
                f"invalid mass range {mass_range!r}",
                hint="use two values 0 <= lo <= hi <= 255, e.g. [0, 100]",
            )
        if flow_size < 8:
            raise StageError(f"flow size {flow_size} is too small", hint="use at least 8 pixels, e.g. 48")
        self.source_size = (int(source_size[0]), int(source_size[1]))
        self.mass_range = (lo, hi)
        self.flow_size = int(flow_size)
        self.threads = max(1, int(threads if threads is not None else min(4, os.cpu_count() or 1)))
        self._prev_small: np.ndarray | None = None
        self._scratch: dict[str, np.ndarray] = {}
        self._local = threading.local()
        self._pool = None

    def reset(self) -> None:
        """Forget the previous frame (the next frame's motion is 0)."""
        self._prev_small = None

    def close(self) -> None:
        """Stop the worker threads (also done when the extractor is collected)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> VisualFeatureExtractor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _thread_scratch(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Two uint8 scratch images (grey, mask) owned by the calling thread."""
        bufs = getattr(self._local, "bufs", None)
        if bufs is None or bufs[0].shape != shape:
            bufs = (np.empty(shape, np.uint8), np.empty(shape, np.uint8))
            self._local.bufs = bufs
        return bufs

    def _buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A uint8 scratch array reused across chunks (fresh memory is slow to touch)."""
        buf = self._scratch.get(name)
        if buf is None or buf.shape[0] < shape[0] or buf.shape[1:] != shape[1:]:
            buf = np.empty(shape, np.uint8)
            self._scratch[name] = buf
        return buf[: shape[0]]

    def _run(self, fn, n: int) -> None:
        """Call ``fn(a, b)`` over ``[0, n)`` split between the worker threads."""
        parts = min(self.threads, max(1, n // 8))
        if parts == 1:
            fn(0, n)
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="avstudio-features")
        bounds = [n * i // parts for i in range(parts + 1)]
        futures = [self._pool.submit(fn, a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        for future in futures:
            future.result()

    def update(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """Features of the next chunk of frames.

        Parameters
        ----------
        frames : np.ndarray [shape=(n, h, w, 3), uint8]
            RGB frames, the continuation of the previous chunk.

        Returns
        -------
        dict
            ``avg_color`` : np.ndarray [shape=(n, 3), float32], mean R, G, B.
            ``brightness`` : np.ndarray [shape=(n,), float32], mean grey
            (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B, rounded per pixel as
            ``cv2.COLOR_RGB2GRAY`` does), 0..255.
            ``contrast`` : np.ndarray [shape=(n,), float32], std of grey.
            ``mass_fraction`` : np.ndarray [shape=(n,), float32], share of
            pixels inside ``mass_range``.
            ``mass`` : np.ndarray [shape=(n,), float32], ``mass_fraction``
            times the source pixel count.
            ``motion`` : np.ndarray [shape=(n,), float32], the speed of what
            moves, in source pixels per frame (see :func:`motion_speed`); 0 for
            the first frame of the video.
        """
        import cv2

        if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
            raise StageError(
                f"expected frames of shape (n, h, w, 3) uint8, got {frames.shape} {frames.dtype}",
                hint="pass RGB chunks from avstudio.media.decode.iter_frames",
            )
        n, h, w, _ = frames.shape
        out = {
            "avg_color": np.zeros((n, 3), np.float32),
            "brightness": np.zeros(n, np.float32),
            "contrast": np.zeros(n, np.float32),
            "mass_fraction": np.zeros(n, np.float32),
            "mass": np.zeros(n, np.float32),
            "motion": np.zeros(n, np.float32),
        }
        if n == 0:
            return out
        frames = np.ascontiguousarray(frames)
        k, fw, fh = flow_grid(w, h, self.flow_size)
        small = self._buffer("small", (n, fh, fw))
        lo, hi = self.mass_range
        lo3, hi3 = (lo, lo, lo), (hi, hi, hi)
        avg_color, brightness, contrast = out["avg_color"], out["brightness"], out["contrast"]
        hits = np.zeros(n, np.float64)  # pixels inside mass_range, per frame
        # Frames per OpenCV call: enough to amortise the calls, few enough that
        # the grey and mask scratch (~1 MB) stays in cache until it is used.
        block = max(1, min(n, _SCRATCH_PIXELS // (h * w)))
        rows_whole = h == fh * k  # flow blocks tile the frame height: one resize per block

        def pixels(a: int, b: int) -> None:
            scratch = self._thread_scratch((block * h, w))
            for s in range(a, b, block):
                e = min(s + block, b)
                m = e - s
                tall = frames[s:e].reshape(m * h, w, 3)  # frames s..e as one image
                grey = cv2.cvtColor(tall, cv2.COLOR_RGB2GRAY, dst=scratch[0][: m * h])
                mask = cv2.inRange(tall, lo3, hi3, dst=scratch[1][: m * h])
                for i in range(s, e):
                    rows = slice((i - s) * h, (i - s + 1) * h)
                    avg_color[i] = cv2.sumElems(frames[i])[:3]
                    hits[i] = cv2.countNonZero(mask[rows])
                    mean, std = cv2.meanStdDev(grey[rows])
                    brightness[i] = mean[0, 0]
                    contrast[i] = std[0, 0]
                if k == 1:
                    small[s:e] = grey.reshape(m, h, w)
                elif rows_whole:
                    dst = small[s:e].reshape(m * fh, fw)
                    cv2.resize(grey[:, : fw * k], (fw, m * fh), dst=dst, interpolation=cv2.INTER_AREA)
                else:
                    for i in range(s, e):
                        top = (i - s) * h
                        src = grey[top : top + fh * k, : fw * k]
                        cv2.resize(src, (fw, fh), dst=small[i], interpolation=cv2.INTER_AREA)

        self._run(pixels, n)
        avg_color /= float(h * w)  # sums -> means
        out["mass_fraction"][:] = hits / (h * w)
        out["mass"][:] = out["mass_fraction"] * float(self.source_size[0] * self.source_size[1])

        # One flow pixel is k frame pixels; frame pixels -> source pixels per axis.
        sx = k * self.source_size[0] / w
        sy = k * self.source_size[1] / h
        prev_small = self._prev_small if self._prev_small is not None and self._prev_small.shape == (fh, fw) else None
        motion = out["motion"]

        def flow(a: int, b: int) -> None:
            p = FARNEBACK_PARAMS
            for i in range(a, b):
                prev = small[i - 1] if i > 0 else prev_small
                if prev is None:
                    continue  # the first frame of the video: no motion
                uv = cv2.calcOpticalFlowFarneback(
                    prev, small[i], None, p["pyr_scale"], p["levels"], p["winsize"],
                    p["iterations"], p["poly_n"], p["poly_sigma"], p["flags"],
                )  # fmt: skip
                motion[i] = motion_speed(cv2.magnitude(uv[..., 0] * sx, uv[..., 1] * sy), MOTION_FLOOR * max(sx, sy))

        self._run(flow, n)
        self._prev_small = small[-1].copy()
        return out


MOTION_FLOOR = 0.1
"""Flow slower than this many *flow* pixels per frame is codec noise, not motion (at the default
flow size of 48 px that is 1.3 source pixels of a 640-wide video, 0.3 of a 160-wide one)."""

MOTION_AREA = 0.02
"""Share of the picture that must move for the full speed to count (less scales it down)."""


def motion_speed(magnitude: np.ndarray, floor: float) -> float:
    """The speed of what moves in one flow field, in source pixels per frame.

    The magnitude-weighted mean speed of the pixels faster than ``floor``, times ``min(1, moving share / MOTION_AREA)``. A
    translating square reads its own speed whatever its size (within 15 % at
    the default flow size), a pan reads the pan's speed, a still picture with
    codec noise reads 0, and a speck moving on 0.5 % of the picture a quarter
    of its speed.

    Parameters
    ----------
    magnitude : np.ndarray [shape=(h, w), float32]
        Flow magnitude per flow pixel, in source pixels per frame.
    floor : float
        The noise floor in source pixels per frame (:data:`MOTION_FLOOR` flow pixels).
    """
    moving = magnitude[magnitude > floor].astype(np.float64)
    if moving.size == 0:
        return 0.0
    speed = float((moving * moving).sum() / moving.sum())
    return speed * min(1.0, moving.size / magnitude.size / MOTION_AREA)


def nan_check(features: dict[str, np.ndarray]) -> None:
    """Raise StageError if any feature holds NaN or infinity.

    Parameters
    ----------
    features : dict of np.ndarray [shape=(n, ...)]
        Per-frame features, frame index first.

    Raises
    ------
    StageError
        Naming the first bad feature and frame.
    """
    for name, values in features.items():
        arr = np.asarray(values)
        if arr.dtype.kind not in "fc":
            continue
        bad = ~np.isfinite(arr)
        if bad.any():
            frame = int(np.argwhere(bad)[0][0]) if arr.ndim else 0
            raise StageError(
                f"feature {name!r} is not finite at frame {frame}",
                hint="the input frames or audio may be corrupt; re-run the extract stage",
            )
