"""Baselines the mapper has to beat: the mean training frame, and audio nearest neighbour."""

from __future__ import annotations

import numpy as np

_CHUNK = 64  # frames summed per step for the mean
_QUERY_CHUNK = 2048  # query rows per matrix product


def mean_frame(train_frames: np.ndarray, *, stop: int | None = None,
               indices: np.ndarray | None = None) -> np.ndarray:
    """The per-pixel mean of the training frames, rounded.

    Parameters
    ----------
    train_frames : np.ndarray [shape=(m, h, w, 3), uint8]
        Any sliceable: an h5py dataset is read ``_CHUNK`` frames at a time.
    stop : int, optional
        Average only ``train_frames[:stop]`` (the contiguous training block).
    indices : np.ndarray [shape=(k,), int], optional
        Average only these frames (increasing; e.g. the training frames of one polarity).

    Returns
    -------
    np.ndarray [shape=(h, w, 3), uint8]
    """
    if indices is None:
        indices = np.arange(len(train_frames) if stop is None else min(stop, len(train_frames)))
    indices = np.asarray(indices, np.int64)
    if len(indices) == 0:
        raise ValueError("no training frames to average")
    total = np.zeros(train_frames.shape[1:], dtype=np.float64)
    for lo in range(0, len(indices), _CHUNK):
        block = indices[lo : lo + _CHUNK]
        total += train_frames[int(block[0]) : int(block[-1]) + 1][block - block[0]].sum(axis=0, dtype=np.float64)
    return np.clip(np.rint(total / len(indices)), 0, 255).astype(np.uint8)


def mean_frame_baseline(train_frames: np.ndarray, n: int) -> np.ndarray:
    """Predict the mean training frame for every one of ``n`` frames.

    Parameters
    ----------
    train_frames : np.ndarray [shape=(m, h, w, 3), uint8]
    n : int
        Number of frames to predict.

    Returns
    -------
    np.ndarray [shape=(n, h, w, 3), uint8]
        A read-only broadcast view of one frame (no ``n``-fold copy); call
        ``.copy()`` before writing to it.
    """
    return np.broadcast_to(mean_frame(train_frames), (n, *train_frames.shape[1:]))


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest_neighbour_baseline(
    train_audio_emb: np.ndarray,
    train_frames_or_indices: np.ndarray,
    query_audio_emb: np.ndarray,
) -> np.ndarray:
    """For each query, the training frame whose audio is most similar (cosine).

    Parameters
    ----------
    train_audio_emb : np.ndarray [shape=(m, da), float]
        Audio embeddings of the training frames.
    train_frames_or_indices : np.ndarray [shape=(m,), int] or [shape=(m, h, w, 3), uint8]
        Either the training frames' indices in the video (1-D), or the training
        frames themselves.
    query_audio_emb : np.ndarray [shape=(q, da), float]
        Audio embeddings to find neighbours for.

    Returns
    -------
    np.ndarray [shape=(q,), int64]
        With 1-D indices given: the chosen video frame index (``indices[nn]``);
        with frames given: the position ``nn`` in them (use ``frames[result]``).
        Ties go to the earliest training frame.
    """
    train = _unit_rows(train_audio_emb)
    query = _unit_rows(query_audio_emb)
    if train.ndim != 2 or query.ndim != 2 or train.shape[1] != query.shape[1]:
        raise ValueError(f"embedding dims differ: train {train.shape}, query {query.shape}")
    if len(train) != len(train_frames_or_indices):
        raise ValueError(
            f"{len(train)} training embeddings but {len(train_frames_or_indices)} frames/indices"
        )
    if len(train) == 0:
        raise ValueError("no training embeddings to search")
    nn = np.empty(len(query), dtype=np.int64)
    for lo in range(0, len(query), _QUERY_CHUNK):
        nn[lo : lo + _QUERY_CHUNK] = np.argmax(query[lo : lo + _QUERY_CHUNK] @ train.T, axis=1)
    ref = np.asarray(train_frames_or_indices)
    return ref[nn].astype(np.int64) if ref.ndim == 1 else nn
