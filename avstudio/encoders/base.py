"""The interface every audio and image encoder implements.

The built-in encoders (no weights) and the neural ones (CLAP, CLIP) plug into
the same stages through these protocols; the manifest's ``[encoders]`` table
picks them by name.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class AudioEncoder(Protocol):
    """Turns audio windows into embeddings.

    Attributes
    ----------
    name : str
        Stable identifier recorded in the store and in checkpoints, e.g. ``"builtin-audio"``.
    dim : int
        Embedding dimension ``d``.
    config : dict
        JSON-serialisable settings that change the embedding (recorded in the store).
    sample_rate : int
        The rate the encoder wants its windows at; the stage resamples the track
        to it once before cutting windows.
    window_seconds : float
        Length of the window centred on each frame's time.
    """

    name: str
    dim: int
    config: dict[str, Any]
    sample_rate: int
    window_seconds: float

    def encode_audio(self, windows: np.ndarray, sr: int) -> np.ndarray:
        """Embed audio windows.

        Parameters
        ----------
        windows : np.ndarray [shape=(n, samples), float32]
            Mono windows, one per frame.
        sr : int
            Their sample rate.

        Returns
        -------
        np.ndarray [shape=(n, d), float32]
        """
        ...


@runtime_checkable
class ImageEncoder(Protocol):
    """Turns frames into embeddings.

    Attributes are as for :class:`AudioEncoder`.
    """

    name: str
    dim: int
    config: dict[str, Any]

    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        """Embed frames.

        Parameters
        ----------
        frames : np.ndarray [shape=(n, h, w, 3), uint8]
            RGB frames.

        Returns
        -------
        np.ndarray [shape=(n, d), float32]
        """
        ...
