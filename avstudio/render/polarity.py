"""Scene polarity: is the scene light (white background) or dark, with hysteresis.

Black-and-white material such as silhouette videos flips between dark scenes
(light shapes on black) and light ones (dark shapes on white). A frame-by-frame
guess flickers whenever the estimate sits near the middle, so the scene keeps
its polarity until the brightness clearly crosses to the other side.
"""

from __future__ import annotations

import numpy as np

LIGHT = 1
DARK = -1


def track_polarity(
    brightness: np.ndarray,
    *,
    light_above: float = 175.0,
    dark_below: float = 80.0,
    initial: int | None = None,
) -> np.ndarray:
    """Scene polarity per frame, with hysteresis.

    Parameters
    ----------
    brightness : np.ndarray [shape=(n,), float]
        Mean brightness of each frame, 0..255 (an estimate is fine).
    light_above : float
        The scene turns light only when a frame is brighter than this.
    dark_below : float
        The scene turns dark only when a frame is darker than this.
    initial : {1, -1}, optional
        Polarity before the first frame; default: light if the first frame's
        brightness is >= 128, else dark.

    Returns
    -------
    np.ndarray [shape=(n,), int8]
        +1 light, -1 dark.

    Examples
    --------
    >>> track_polarity(np.array([200, 150, 100, 90, 70, 100, 170, 180])).tolist()
    [1, 1, 1, 1, -1, -1, -1, 1]
    """
    b = np.nan_to_num(np.asarray(brightness, dtype=np.float64).reshape(-1), nan=128.0)
    out = np.empty(len(b), dtype=np.int8)
    if len(b) == 0:
        return out
    current = int(initial) if initial is not None else (LIGHT if b[0] >= 128.0 else DARK)
    for i, value in enumerate(b):
        if value > light_above:
            current = LIGHT
        elif value < dark_below:
            current = DARK
        out[i] = current
    return out
