"""Vectorised, click-free oscillator building blocks.

Phases are kept in cycles (turns) as float64 and wrapped to ``[0, 1)``; the
waveforms are evaluated in float32. No function here loops over samples.
"""

from __future__ import annotations

import numpy as np

TAU = np.float32(2.0 * np.pi)


def advance_phase(increments: np.ndarray, start: float) -> tuple[np.ndarray, float]:
    """Continuous phase from per-sample increments.

    Sample ``i`` of the block has phase ``start + sum(increments[:i])``, so the
    first sample continues exactly where the previous block stopped.

    Parameters
    ----------
    increments : np.ndarray [shape=(m,), float64]
        Cycles per sample (frequency / sample rate).
    start : float
        Phase of the first sample, in cycles, ``0 <= start < 1``.

    Returns
    -------
    phase : np.ndarray [shape=(m,), float64]
        Wrapped to ``[0, 1)``.
    next_start : float
        Phase of the sample after the block, wrapped to ``[0, 1)``.
    """
    total = np.cumsum(increments)
    end = start + float(total[-1]) if len(total) else start
    phase = total
    phase -= increments
    phase += start
    phase -= np.floor(phase)
    return phase, end - np.floor(end)


def sine_pair(phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sin`` and ``cos`` of a phase in cycles.

    Parameters
    ----------
    phase : np.ndarray [shape=(m,), float64]
        In ``[0, 1)``.

    Returns
    -------
    sin, cos : np.ndarray [shape=(m,), float32]
    """
    angle = phase.astype(np.float32)
    angle *= TAU
    return np.sin(angle), np.cos(angle)


def harmonics(sin1: np.ndarray, cos1: np.ndarray, count: int) -> np.ndarray:
    """``sin(k * phase)`` for ``k = 1 .. count``.

    Uses the recurrence ``sin((k+1)x) = 2 cos(x) sin(kx) - sin((k-1)x)``, so one
    ``sin``/``cos`` pair serves every harmonic.

    Parameters
    ----------
    sin1, cos1 : np.ndarray [shape=(m,), float32]
        Sine and cosine of the fundamental's phase.
    count : int
        Number of harmonics ``K``.

    Returns
    -------
    np.ndarray [shape=(K, m), float32]
    """
    out = np.empty((count, len(sin1)), dtype=np.float32)
    out[0] = sin1
    if count > 1:
        twice_cos = cos1 + cos1
        np.multiply(twice_cos, sin1, out=out[1])
        for k in range(2, count):
            np.multiply(twice_cos, out[k - 1], out=out[k])
            out[k] -= out[k - 2]
    return out


def smoothstep(u: np.ndarray) -> np.ndarray:
    """``3u^2 - 2u^3``: 0 -> 0 and 1 -> 1 with zero slope at both ends, monotone between.

    Parameters
    ----------
    u : np.ndarray [shape=(m,), float32]
        In ``[0, 1]``.

    Returns
    -------
    np.ndarray [shape=(m,), float32]
    """
    return u * u * (np.float32(3.0) - np.float32(2.0) * u)


def raised_cosine(x: np.ndarray) -> np.ndarray:
    """``sin^2(pi/2 * x)`` for ``x`` in 0..1: a smooth 0 -> 1 fade (zero slope at both ends).

    Parameters
    ----------
    x : np.ndarray [shape=(m,), float64]

    Returns
    -------
    np.ndarray [shape=(m,), float32]
    """
    return (np.sin(0.5 * np.pi * np.clip(x, 0.0, 1.0)) ** 2).astype(np.float32)
