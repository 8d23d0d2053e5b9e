"""The train / validation / test split of one video: three contiguous blocks with gaps.

``[train][gap][validation][gap][test]``: the model learns from the first
block, the validation block chooses the epoch and every model choice (early
stopping, the polarity head, the best checkpoint), and the test block, the
last ``test_fraction`` of the video, is only ever used for the report. A gap
of one audio window keeps windows that overlap two blocks out of both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from avstudio.errors import StageError

MIN_FRAMES = {"train": 8, "val": 2, "test": 2}
"""Fewest frames each block may have."""


@dataclass(frozen=True)
class Split:
    """Frame ranges ``[lo, hi)`` of the three blocks of an ``n``-frame video.

    Attributes
    ----------
    n : int
    train, val, test : tuple of int
        ``(lo, hi)`` half-open frame ranges, in time order.
    gap : int
        Frames dropped before the validation and before the test block.
    """

    n: int
    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]
    gap: int

    def indices(self, block: str) -> np.ndarray:
        """Frame indices [shape=(m,), int64] of ``"train"``, ``"val"`` or ``"test"``."""
        lo, hi = getattr(self, block)
        return np.arange(lo, hi, dtype=np.int64)

    def known_before(self, block: str) -> int:
        """The last frame before ``block`` whose truth a painter may use (-1 for none)."""
        lo = getattr(self, block)[0]
        return lo - 1

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Split:
        return cls(int(data["n"]), tuple(data["train"]), tuple(data["val"]), tuple(data["test"]), int(data["gap"]))


def _sizes(n: int, val_fraction: float, test_fraction: float, gap: int) -> tuple[int, int, int]:
    """``(n_test, n_val, n_train)`` of an ``n``-frame split (``n_train`` may be < 1)."""
    n_test = max(MIN_FRAMES["test"], int(round(n * test_fraction)))
    n_val = max(MIN_FRAMES["val"], int(round(n * val_fraction)))
    return n_test, n_val, n - n_test - n_val - 2 * gap


def split_blocks(n: int, *, val_fraction: float, test_fraction: float, gap: int) -> Split:
    """Split ``n`` time-ordered frames into train, validation and test blocks.

    Parameters
    ----------
    n : int
        Frames in the video.
    val_fraction, test_fraction : float
        Share of ``n`` in the validation and test blocks (``round(n * f)``,
        at least ``MIN_FRAMES``); the test block is the last one.
    gap : int
        Frames dropped before validation and before test (the audio window length).

    Returns
    -------
    Split

    Raises
    ------
    StageError
        When the blocks do not fit, naming how many frames are needed.

    Examples
    --------
    >>> split_blocks(100, val_fraction=0.15, test_fraction=0.15, gap=5)
    Split(n=100, train=(0, 60), val=(65, 80), test=(85, 100), gap=5)
    """
    if not (0.0 < val_fraction < 1.0 and 0.0 < test_fraction < 1.0 and val_fraction + test_fraction < 1.0):
        raise ValueError(f"fractions must be in (0, 1) and sum below 1, got {val_fraction}, {test_fraction}")
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    n_test, n_val, n_train = _sizes(n, val_fraction, test_fraction, gap)
    if n_train < MIN_FRAMES["train"]:
        need = next(m for m in range(n + 1, 100 * (n + 2 * gap + 20))
                    if all(_sizes(k, val_fraction, test_fraction, gap)[2] >= MIN_FRAMES["train"]
                           for k in range(m, m + 2 * gap + 20)))
        raise StageError(
            f"too few frames to split into train, validation and test: {n} frames, at least {need} needed "
            f"({n_val} validation + {n_test} test + 2 x {gap} gap frames leave {max(n_train, 0)} to train on, "
            f"{MIN_FRAMES['train']} wanted)",
            hint="use a longer video, a higher analysis.fps, or lower train.val_fraction / train.test_fraction",
        )
    val_lo = n_train + gap
    test_lo = val_lo + n_val + gap
    return Split(n, (0, n_train), (val_lo, val_lo + n_val), (test_lo, n), gap)


def split_for(n: int, *, fps: float, train: dict[str, Any], window_seconds: float) -> Split:
    """The split the manifest asks for: ``train.val_fraction``, ``train.test_fraction``,
    ``train.gap_frames`` (default: the audio window, ``encoders.window_seconds``, in frames)."""
    gap = train.get("gap_frames")
    if gap is None:
        gap = max(0, int(np.ceil(window_seconds * fps - 1e-9)))
    return split_blocks(n, val_fraction=train["val_fraction"], test_fraction=train["test_fraction"], gap=int(gap))
