"""Audio windows centred on video frames.

Every frame ``k`` of a video at ``fps`` frames per second sits at the centre time
``(k + 0.5) / fps``. The audio encoders see one window of ``window_seconds``
centred on that time; windows that reach past either end of the track are
zero-padded there, so frame 0's window of a 1 s window at 30 fps starts with
``0.5 - 1/60`` s of zeros.

Windows are produced in chunks of frames so that memory stays bounded by
``chunk * window`` samples whatever the length of the track.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from avstudio.cancel import NEVER, CancelToken
from avstudio.errors import MediaError, StageError


def frame_times(n_frames: int, fps: float) -> np.ndarray:
    """Centre time of each frame.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    fps : float
        Frames per second.

    Returns
    -------
    np.ndarray [shape=(n_frames,), float64]
        ``(k + 0.5) / fps`` in seconds.
    """
    if fps <= 0:
        raise StageError(f"frame rate must be positive, got {fps}", hint="check the video's frame rate")
    return (np.arange(int(n_frames), dtype=np.float64) + 0.5) / float(fps)


def window_length(sr: int, window_seconds: float) -> int:
    """Number of samples in one window, ``round(window_seconds * sr)`` (at least 1)."""
    return max(1, int(round(float(window_seconds) * int(sr))))


def window_starts(n_frames: int, *, sr: int, fps: float, window_seconds: float) -> np.ndarray:
    """First sample of each frame's window (negative before the track starts).

    Parameters
    ----------
    n_frames : int
        Number of frames.
    sr : int
        Sample rate.
    fps : float
        Frames per second.
    window_seconds : float
        Window length in seconds.

    Returns
    -------
    np.ndarray [shape=(n_frames,), int64]
        ``round(t_k * sr) - L // 2`` with ``t_k`` from :func:`frame_times`.
    """
    centres = np.rint(frame_times(n_frames, fps) * sr).astype(np.int64)
    return centres - window_length(sr, window_seconds) // 2


def iter_windows(
    samples: np.ndarray,
    sr: int,
    *,
    fps: float,
    n_frames: int,
    window_seconds: float,
    chunk: int = 128,
) -> Iterator[tuple[int, np.ndarray]]:
    """Cut one window per frame, centred on the frame's time, a chunk at a time.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        The mono track.
    sr : int
        Its sample rate.
    fps : float
        Video frame rate.
    n_frames : int
        Number of video frames (windows); may run past the end of the audio,
        those windows are zero-padded.
    window_seconds : float
        Window length ``L = round(window_seconds * sr)`` samples.
    chunk : int
        Frames per yielded block.

    Yields
    ------
    start : int
        Index of the first frame of the block.
    windows : np.ndarray [shape=(m, L), float32]
        ``m <= chunk`` windows; a fresh array the caller may keep.

    Raises
    ------
    MediaError
        The track is shorter than one window.
    """
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    length = window_length(sr, window_seconds)
    if samples.shape[0] < length:
        raise MediaError(
            f"audio is {samples.shape[0] / sr:.1f} s, shorter than one {window_seconds:.1f} s window",
            hint="use a longer file or lower encoders.window_seconds",
        )
    starts = window_starts(n_frames, sr=sr, fps=fps, window_seconds=window_seconds)
    n = samples.shape[0]
    chunk = max(1, int(chunk))
    for first in range(0, len(starts), chunk):
        block = starts[first : first + chunk]
        lo, hi = int(block[0]), int(block[-1]) + length
        region = np.zeros(hi - lo, dtype=np.float32)
        a, b = max(lo, 0), min(hi, n)
        if b > a:
            region[a - lo : b - lo] = samples[a:b]
        view = np.lib.stride_tricks.sliding_window_view(region, length)
        yield first, np.ascontiguousarray(view[block - lo])


def encode_track(
    encode: Callable[[np.ndarray], np.ndarray],
    samples: np.ndarray,
    sr: int,
    *,
    fps: float,
    n_frames: int,
    window_seconds: float,
    chunk: int = 128,
    cancel: CancelToken = NEVER,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Embed every frame's window of a track, chunk by chunk.

    Parameters
    ----------
    encode : callable
        ``windows [shape=(m, L), float32] -> [shape=(m, d)]``, e.g.
        ``lambda w: encoder.encode_audio(w, sr)``.
    samples : np.ndarray [shape=(n,), float32]
        The mono track at ``sr``.
    sr : int
        Its sample rate.
    fps, n_frames, window_seconds, chunk
        As for :func:`iter_windows`.
    cancel : CancelToken
        Checked once per chunk.
    progress : callable, optional
        Called as ``progress(done, n_frames)`` after each chunk.

    Returns
    -------
    np.ndarray [shape=(n_frames, d), float32]
    """
    parts = []
    for first, windows in iter_windows(
        samples, sr, fps=fps, n_frames=n_frames, window_seconds=window_seconds, chunk=chunk
    ):
        cancel.check()
        parts.append(np.asarray(encode(windows), dtype=np.float32))
        if progress is not None:
            progress(first + len(windows), n_frames)
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(parts, axis=0)


def embed_audio(enc: Any, samples: np.ndarray, sr: int, *, fps: float, n_frames: int, n_fit: int | None,
                cancel: Any, progress: Any = None) -> np.ndarray:
    """Audio embeddings of every frame (windows centred on frame times).

    Parameters
    ----------
    samples : np.ndarray [shape=(m,), float32]
        Mono audio at ``sr`` (already at ``enc.sample_rate``).
    n_fit : int or None
        Fit the encoder's standardisation on the first ``n_fit`` frames (built-in
        encoder); None to use an already fitted encoder (painting new audio).

    Returns
    -------
    np.ndarray [shape=(n_frames, d), float32]
    """
    if hasattr(enc, "encode_track"):
        return np.asarray(enc.encode_track(samples, sr, fps=fps, n_frames=n_frames, cancel=cancel), np.float32)
    raw = []
    done = 0
    for _, windows in iter_windows(samples, sr, fps=fps, n_frames=n_frames, window_seconds=enc.window_seconds):
        cancel.check()
        raw.append(enc.encode_audio(windows, sr))
        done += len(windows)
        if progress:
            progress(done)
    emb = np.concatenate(raw).astype(np.float32)
    if n_fit is not None and hasattr(enc, "fit"):
        enc.fit(emb[:n_fit])
        emb = enc.standardise(emb) if hasattr(enc, "standardise") else emb
    return emb
