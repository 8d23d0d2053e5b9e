"""The built-in image encoder: PCA "eigenframes" that can be decoded back to a frame.

Frames are shrunk to a small code size (default 64x48, ``cv2.INTER_AREA``) and
projected on the principal components of the training frames. Unlike CLIP
embeddings these codes decode back to pictures, which is what the built-in
renderer paints.

Code layout, ``dim = components + 1``:

* ``code[0]`` is the **polarity code**: ``+polarity_weight`` for a light frame,
  ``-polarity_weight`` for a dark one, when the encoder splits polarity, and
  always 0 when it does not. Polarity is split for black-and-white silhouette
  material that has both light and dark scenes (``polarity="auto"``): light
  frames are inverted to the dark "canonical" form before PCA, so the
  eigenframes describe the shapes once instead of twice, and the mapper
  predicts shape (which follows the music) separately from scene polarity
  (which the temporal logic stabilises with hysteresis).
* ``code[1:]`` are the PCA coefficients divided by one global scale chosen so
  that the mean variance of the coefficients on the training frames is 1.
  One scale for all components (no per-component whitening) keeps squared
  distances between codes proportional to squared pixel distances between the
  decoded frames, so a mapper's MSE loss weights each component by how much
  picture it carries, and noise components are not amplified.

Colour is decided at fit time (``colour="auto"``): greyscale material is
stored as one channel, which makes fitting three times cheaper.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avstudio.cancel import NEVER, CancelToken
from avstudio.errors import ModelError

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_MIDTONE_MAX = 0.25
"""At most this fraction of mid-tone pixels (48..207) makes frames "silhouette" material."""
_FIT_CHUNK = 256
"""Frames read and shrunk at a time while fitting."""
_POLARITY_MIN = 0.01
"""Both polarities must cover at least this fraction of the fit frames to split polarity."""


def frame_brightness(frames: np.ndarray) -> np.ndarray:
    """Mean luma (BT.601) of each frame, 0..255.

    Parameters
    ----------
    frames : np.ndarray [shape=(n, h, w, 3)]

    Returns
    -------
    np.ndarray [shape=(n,), float32]
    """
    frames = np.asarray(frames, dtype=np.float32)
    return (frames.reshape(len(frames), -1, 3).mean(axis=1) @ _LUMA).astype(np.float32)


def _randomized_pca(x: np.ndarray, k: int, *, seed: int, oversample: int = 16, power_iters: int = 4):
    """Top ``k`` principal directions of centred rows ``x [shape=(n, D)]``.

    Exact SVD for small problems, otherwise Halko et al.'s randomised range
    finder with power iterations (deterministic for a given seed).

    Returns
    -------
    components : np.ndarray [shape=(r, D), float32], r <= k, orthonormal rows
    singular : np.ndarray [shape=(r,), float64]
    """
    n, dims = x.shape
    if min(n, dims) <= 4 * (k + oversample):
        _, s, vt = np.linalg.svd(x.astype(np.float64), full_matrices=False)
        return vt[:k].astype(np.float32), s[:k]
    rng = np.random.default_rng(seed)
    omega = rng.standard_normal((dims, k + oversample)).astype(np.float32)
    q, _ = np.linalg.qr(x @ omega)
    for _ in range(power_iters):
        q, _ = np.linalg.qr(x.T @ q)
        q, _ = np.linalg.qr(x @ q)
    _, s, vt = np.linalg.svd((q.T @ x).astype(np.float64), full_matrices=False)
    return vt[:k].astype(np.float32), s[:k]


class BuiltinImageEncoder:
    """PCA eigenframes of the training frames (see the module docstring).

    Parameters
    ----------
    code_size : int or tuple of int
        ``(width, height)`` frames are shrunk to before PCA, or an int: the
        longest side, the other following the fit frames' aspect ratio
        (64 for 320x240 frames gives 64x48).
    components : int
        Number of principal components (``dim = components + 1``).
    colour : {"auto", "grey", "colour"}
        Work in one channel or three; ``"auto"`` picks grey when the fit frames
        have (near) equal channels.
    polarity : {"auto", "split", "none"}
        Whether to split scene polarity off into ``code[0]``; ``"auto"`` splits
        for greyscale silhouette material that has light and dark frames.
    polarity_weight : float
        Magnitude of the polarity code.
    max_fit_frames : int
        Longest video frames are evenly subsampled to for fitting.
    seed : int
        Seed of the randomised SVD.

    Attributes
    ----------
    name : str
        ``"builtin-image"``.
    dim : int
        ``components + 1``.
    config : dict
        The parameters above; ``from_state(state, config)`` rebuilds the encoder.
    """

    name = "builtin-image"

    def __init__(
        self,
        *,
        code_size: int | tuple[int, int] | list[int] = (64, 48),
        components: int = 32,
        colour: str = "auto",
        polarity: str = "auto",
        polarity_weight: float = 1.0,
        max_fit_frames: int = 2000,
        seed: int = 0,
    ) -> None:
        if colour not in ("auto", "grey", "colour"):
            raise ModelError(f"unknown colour mode '{colour}'", hint="use 'auto', 'grey' or 'colour'")
        if polarity not in ("auto", "split", "none"):
            raise ModelError(f"unknown polarity mode '{polarity}'", hint="use 'auto', 'split' or 'none'")
        sides = [int(code_size)] if np.ndim(code_size) == 0 else [int(v) for v in code_size]
        if len(sides) not in (1, 2) or min(sides) < 1 or components < 1:
            raise ModelError(
                f"builtin image encoder: bad code_size {code_size} or components {components}",
                hint="use e.g. code_size = 64 (longest side) or [64, 48], components = 32",
            )
        self._size: tuple[int, int] | None = (sides[0], sides[1]) if len(sides) == 2 else None
        self.config: dict[str, Any] = {
            "code_size": sides if len(sides) == 2 else sides[0],
            "components": int(components),
            "colour": colour,
            "polarity": polarity,
            "polarity_weight": float(polarity_weight),
            "max_fit_frames": int(max_fit_frames),
            "seed": int(seed),
        }
        self.dim = int(components) + 1
        self.channels: int | None = None
        self.split_polarity = False
        self.mean: np.ndarray | None = None  # (D,)
        self.components: np.ndarray | None = None  # (k, D)
        self.variance: np.ndarray | None = None  # (k,)
        self.scale = 1.0

    @property
    def code_size(self) -> tuple[int, int]:
        """``(width, height)`` of decoded frames (known once fitted when configured by longest side)."""
        if self._size is None:
            raise ModelError(
                "builtin image encoder: code size follows the frames, which it has not seen",
                hint="fit the encoder first",
            )
        return self._size

    def _resolve_size(self, frame_height: int, frame_width: int) -> None:
        if self._size is not None:
            return
        longest = int(self.config["code_size"])
        if frame_width >= frame_height:
            self._size = (longest, max(1, int(round(longest * frame_height / frame_width))))
        else:
            self._size = (max(1, int(round(longest * frame_width / frame_height))), longest)

    @property
    def fitted(self) -> bool:
        return self.mean is not None

    @property
    def grey(self) -> bool:
        """True when the fitted encoder works in one channel."""
        return self.channels == 1

    # ------------------------------------------------------------ pixels
    def shrink(self, frames: np.ndarray) -> np.ndarray:
        """Resize frames to the code size.

        Parameters
        ----------
        frames : np.ndarray [shape=(n, h, w, 3), uint8]

        Returns
        -------
        np.ndarray [shape=(n, code_h, code_w, 3), uint8]
        """
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ModelError(
                f"builtin image encoder expects frames of shape (n, h, w, 3), got {frames.shape}",
                hint="pass RGB frames",
            )
        width, height = self.code_size
        if frames.shape[1:3] == (height, width):
            return frames.astype(np.uint8, copy=False)
        import cv2

        out = np.empty((len(frames), height, width, 3), dtype=np.uint8)
        for i, frame in enumerate(frames):
            out[i] = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        return out

    def _vectors(self, small: np.ndarray, channels: int) -> np.ndarray:
        """Code-size frames as rows: ``(n, h*w*channels)`` float32, 0..255."""
        x = small.astype(np.float32)
        if channels == 1:
            x = x @ _LUMA
        return x.reshape(len(x), -1)

    def _canonical(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Light rows inverted to dark; returns the rows and the polarity (+1/-1) per row."""
        light = x.mean(axis=1) >= 128.0
        sign = np.where(light, 1, -1).astype(np.int8)
        if self.split_polarity:
            x = np.where(light[:, None], 255.0 - x, x)
        return x, sign

    # --------------------------------------------------------------- fit
    def fit(
        self,
        frames: np.ndarray,
        *,
        max_frames: int | None = None,
        seed: int | None = None,
        cancel: CancelToken = NEVER,
    ) -> BuiltinImageEncoder:
        """Fit the eigenframes on training frames.

        Parameters
        ----------
        frames : np.ndarray [shape=(n, h, w, 3), uint8]
            Training frames, any size (already shrunk frames skip the resize);
            anything indexable with sorted index arrays, such as an h5py
            dataset, is read a chunk at a time.
        max_frames : int, optional
            Evenly subsample to at most this many frames (default ``max_fit_frames``).
        seed : int, optional
            Randomised-SVD seed (default the configured ``seed``).
        cancel : CancelToken
            Checked between steps.

        Returns
        -------
        BuiltinImageEncoder
            ``self``.
        """
        n = len(frames)
        if n == 0:
            raise ModelError("builtin image encoder: no frames to fit on", hint="check the training split")
        limit = int(max_frames if max_frames is not None else self.config["max_fit_frames"])
        idx = np.arange(n) if n <= limit else np.unique(np.linspace(0, n - 1, limit).round().astype(int))
        first = np.asarray(frames[int(idx[0])])
        if np.ndim(self.config["code_size"]) == 0:
            self._size = None  # follows these frames
        if first.ndim == 3:
            self._resolve_size(first.shape[0], first.shape[1])
        parts = []
        for s in range(0, len(idx), _FIT_CHUNK):  # bounded memory for long (on-disk) videos
            cancel.check()
            parts.append(self.shrink(frames[idx[s : s + _FIT_CHUNK]]))
        small = np.concatenate(parts)
        self.channels = self._decide_channels(small)
        x = self._vectors(small, self.channels)
        self.split_polarity = self._decide_polarity(x)
        x, _ = self._canonical(x)
        self.mean = x.mean(axis=0)
        cancel.check()
        k = self.config["components"]
        comps, singular = _randomized_pca(
            x - self.mean, k, seed=int(seed if seed is not None else self.config["seed"])
        )
        comps = comps * np.where(comps.sum(axis=1, keepdims=True) < 0, -1.0, 1.0).astype(np.float32)
        variance = singular**2 / len(x)
        if len(comps) < k:  # fewer frames (or pixels) than components: pad with null directions
            comps = np.vstack([comps, np.zeros((k - len(comps), x.shape[1]), np.float32)])
            variance = np.concatenate([variance, np.zeros(k - len(variance))])
        self.components = comps.astype(np.float32)
        self.variance = variance.astype(np.float64)
        mean_var = float(self.variance.mean())
        self.scale = float(np.sqrt(mean_var)) if mean_var > 1e-12 else 1.0
        return self

    def _decide_channels(self, small: np.ndarray) -> int:
        mode = self.config["colour"]
        if mode != "auto":
            return 1 if mode == "grey" else 3
        x = small.astype(np.int16)
        spread = np.abs(x[..., 0] - x[..., 1]).mean() + np.abs(x[..., 1] - x[..., 2]).mean()
        return 1 if spread < 2.0 else 3

    def _decide_polarity(self, x: np.ndarray) -> bool:
        mode = self.config["polarity"]
        if mode != "auto":
            return mode == "split"
        if self.channels != 1:
            return False
        midtones = float(((x > 48) & (x < 207)).mean())
        light = float((x.mean(axis=1) >= 128.0).mean())
        return midtones <= _MIDTONE_MAX and _POLARITY_MIN <= light <= 1.0 - _POLARITY_MIN

    # ------------------------------------------------------- encode/decode
    def _require_fit(self) -> None:
        if self.mean is None:
            raise ModelError(
                "builtin image encoder is not fitted", hint="fit it on the training frames first"
            )

    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        """Embed frames.

        Parameters
        ----------
        frames : np.ndarray [shape=(n, h, w, 3), uint8]

        Returns
        -------
        np.ndarray [shape=(n, dim), float32]
            ``[polarity code, PCA coefficients / scale]``.
        """
        self._require_fit()
        x = self._vectors(self.shrink(frames), self.channels)
        x, sign = self._canonical(x)
        codes = np.empty((len(x), self.dim), dtype=np.float32)
        codes[:, 0] = sign * self.config["polarity_weight"] if self.split_polarity else 0.0
        codes[:, 1:] = (x - self.mean) @ self.components.T / self.scale
        return codes

    def decode_float(self, codes: np.ndarray, *, polarity: np.ndarray | None = None) -> np.ndarray:
        """Decode codes to unclipped float frames at the code size.

        Parameters
        ----------
        codes : np.ndarray [shape=(n, dim)]
        polarity : np.ndarray [shape=(n,), int], optional
            +1 light / -1 dark per frame. With split polarity it chooses the
            inversion (default: the sign of ``code[0]``, ``> 0`` is light). Without
            split polarity, a decoded frame whose mean brightness contradicts it
            (``>= 128`` for light) is inverted.

        Returns
        -------
        np.ndarray [shape=(n, code_h, code_w, 3), float32]
        """
        self._require_fit()
        codes = np.asarray(codes, dtype=np.float32).reshape(-1, self.dim)
        x = self.mean + (codes[:, 1:] * self.scale) @ self.components
        if self.split_polarity:
            light = codes[:, 0] > 0 if polarity is None else np.asarray(polarity).reshape(-1) > 0
            x = np.where(light[:, None], 255.0 - x, x)
        elif polarity is not None:
            light = np.asarray(polarity).reshape(-1) > 0
            wrong = (np.clip(x, 0, 255).mean(axis=1) >= 128.0) != light
            x = np.where(wrong[:, None], 255.0 - x, x)
        width, height = self.code_size
        x = x.reshape(len(x), height, width, self.channels)
        if self.channels == 1:
            x = np.repeat(x, 3, axis=3)
        return x.astype(np.float32, copy=False)

    def decode(self, codes: np.ndarray, *, polarity: np.ndarray | None = None) -> np.ndarray:
        """Decode codes to frames at the code size (see :meth:`decode_float`).

        Returns
        -------
        np.ndarray [shape=(n, code_h, code_w, 3), uint8]
        """
        return np.clip(np.rint(self.decode_float(codes, polarity=polarity)), 0, 255).astype(np.uint8)

    def brightness(self, codes: np.ndarray) -> np.ndarray:
        """Estimated mean brightness (0..255) of the frames codes decode to.

        The input the temporal logic's polarity tracking wants. With split
        polarity it is soft: the canonical shape's brightness ``b`` moved toward
        ``255 - b`` by the polarity code, ``b + t * (255 - 2 b)`` with
        ``t = clip((code[0] / polarity_weight + 1) / 2, 0, 1)``, so an uncertain
        polarity lands between the thresholds and the scene keeps its polarity.

        Parameters
        ----------
        codes : np.ndarray [shape=(n, dim)]

        Returns
        -------
        np.ndarray [shape=(n,), float32]
        """
        self._require_fit()
        codes = np.asarray(codes, dtype=np.float32).reshape(-1, self.dim)
        if not self.split_polarity:
            return frame_brightness(np.clip(self.decode_float(codes), 0, 255))
        shape = np.clip(self.mean + (codes[:, 1:] * self.scale) @ self.components, 0, 255)
        base = shape.mean(axis=1)
        t = np.clip((codes[:, 0] / self.config["polarity_weight"] + 1.0) / 2.0, 0.0, 1.0)
        return (base + t * (255.0 - 2.0 * base)).astype(np.float32)

    # ------------------------------------------------------------- state
    def state_dict(self) -> dict[str, np.ndarray]:
        """Fitted state as arrays (empty before fit).

        Keys: ``mean [(D,)]``, ``components [(k, D)]``, ``variance [(k,)]``,
        ``scale [()]``, ``channels [()]``, ``split_polarity [()]``,
        ``code_size [(2,)]`` (width, height).
        """
        if self.mean is None:
            return {}
        return {
            "mean": self.mean.astype(np.float32),
            "components": self.components.astype(np.float32),
            "variance": self.variance.astype(np.float64),
            "scale": np.asarray(self.scale, dtype=np.float64),
            "channels": np.asarray(self.channels, dtype=np.int64),
            "split_polarity": np.asarray(self.split_polarity, dtype=np.bool_),
            "code_size": np.asarray(self.code_size, dtype=np.int64),
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], config: dict[str, Any]) -> BuiltinImageEncoder:
        """Rebuild an encoder from its ``config`` and :meth:`state_dict`."""
        encoder = cls(**config)
        if not state:
            return encoder
        channels = int(np.asarray(state["channels"]))
        if "code_size" in state:
            encoder._size = tuple(int(v) for v in np.asarray(state["code_size"]).reshape(2))
        width, height = encoder.code_size
        components = np.asarray(state["components"], dtype=np.float32)
        if components.shape != (encoder.dim - 1, width * height * channels):
            raise ModelError(
                f"builtin image encoder state has components of shape {components.shape}, "
                f"config gives ({encoder.dim - 1}, {width * height * channels})",
                hint="re-run the embed stage to refit the encoder",
            )
        encoder.channels = channels
        encoder.mean = np.asarray(state["mean"], dtype=np.float32)
        encoder.components = components
        encoder.variance = np.asarray(state["variance"], dtype=np.float64)
        encoder.scale = float(np.asarray(state["scale"]))
        encoder.split_polarity = bool(np.asarray(state["split_polarity"]))
        return encoder
