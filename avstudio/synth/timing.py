"""Exact frame <-> sample arithmetic for the synthesiser.

Frame rates are held as exact fractions (``30000/1001``, not ``29.97``) and
sample positions are computed from integers, so a track never drifts against
its video however long it is: sample ``i`` sounds at time ``i / sample_rate``
and frame ``k`` is centred at ``(k + 1/2) / fps``.
"""

from __future__ import annotations

import math
from fractions import Fraction

from avstudio.errors import StageError


def fps_fraction(fps: float | Fraction | int) -> Fraction:
    """The frame rate as an exact fraction.

    A float such as ``30000 / 1001`` is recovered exactly (denominators up to
    one million); ``29.97`` itself stays ``2997/100``.

    Parameters
    ----------
    fps : float or Fraction or int
        Frames per second, finite and positive.

    Returns
    -------
    Fraction
    """
    if isinstance(fps, Fraction):
        rate = fps
    else:
        value = float(fps)
        if not math.isfinite(value) or value <= 0:
            raise StageError(f"frame rate must be a positive number, got {fps!r}",
                             hint="re-run the extract stage so the store records the video's fps")
        rate = Fraction(value).limit_denominator(1_000_000)
    if rate <= 0:
        raise StageError(f"frame rate must be a positive number, got {fps!r}",
                         hint="re-run the extract stage so the store records the video's fps")
    return rate


def frame_to_sample(frame: int, *, fps: float | Fraction, sample_rate: int) -> int:
    """The first sample at or after the start of ``frame``, rounded half up.

    ``frame_to_sample(n_frames, ...)`` is the length of the track: 90 frames at
    30 fps and 44.1 kHz give exactly 132300 samples.

    Parameters
    ----------
    frame : int
        Frame index (``0 .. n_frames``).
    fps : float or Fraction
        Frames per second.
    sample_rate : int
        Samples per second.

    Returns
    -------
    int
        ``round(frame * sample_rate / fps)`` in exact integer arithmetic.
    """
    rate = fps_fraction(fps)
    numerator = 2 * int(frame) * int(sample_rate) * rate.denominator
    return (numerator + rate.numerator) // (2 * rate.numerator)


def n_samples(n_frames: int, *, fps: float | Fraction, sample_rate: int) -> int:
    """Samples in the track of a video of ``n_frames`` frames.

    Parameters
    ----------
    n_frames : int
        Frames in the video.
    fps : float or Fraction
        Frames per second.
    sample_rate : int
        Samples per second.

    Returns
    -------
    int
    """
    return frame_to_sample(n_frames, fps=fps, sample_rate=sample_rate)
