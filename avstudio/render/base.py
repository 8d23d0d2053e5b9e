"""The interface every renderer implements (built-in decoder, SD 1.5 + IP-Adapter)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class FramePlan:
    """What the temporal logic decided for one output frame.

    Attributes
    ----------
    embedding : np.ndarray [shape=(d,), float32]
        The (smoothed) image embedding to paint.
    cut : bool
        True for a hard cut: paint from scratch, ignore the previous frame.
    strength : float
        0..1, how far to move away from the previous frame (img2img strength);
        1.0 on cuts.
    polarity : int
        +1 for a light scene, -1 for a dark scene.
    source : int
        Retrieval renderer: the training-video frame to show (-1 for other renderers).
    jump : bool
        Retrieval renderer: ``source`` does not follow the previous frame's source.
    """

    embedding: np.ndarray
    cut: bool
    strength: float
    polarity: int
    source: int = -1
    jump: bool = False


@runtime_checkable
class Renderer(Protocol):
    """Paints frames from planned image embeddings.

    Attributes
    ----------
    name : str
        Stable identifier recorded in the store, e.g. ``"builtin"`` or ``"sd15"``.
    config : dict
        JSON-serialisable settings that change the output.
    size : tuple of int
        Output ``(width, height)``.
    """

    name: str
    config: dict[str, Any]
    size: tuple[int, int]

    def render(
        self, plans: list[FramePlan], previous: np.ndarray | None, *, start: int
    ) -> np.ndarray:
        """Paint a chunk of consecutive frames.

        Parameters
        ----------
        plans : list of FramePlan
            One plan per frame, in time order.
        previous : np.ndarray [shape=(h, w, 3), uint8] or None
            The last frame painted before this chunk (None at the start).
        start : int
            Index of ``plans[0]`` in the whole video. Renderers derive per-frame
            random seeds from it, so painting frames 100..199 gives the same
            pixels whether or not frames 0..99 were painted in the same process
            (this is what makes resumed painting equal an uninterrupted run).

        Returns
        -------
        np.ndarray [shape=(len(plans), h, w, 3), uint8]
        """
        ...
