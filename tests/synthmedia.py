"""Synthetic test media with known content: solid colours, moving squares, tones, clicks.

Videos are written with :class:`avstudio.media.encode.VideoWriter` in lossless
mode (x264 ``qp=0``, ``yuv444p``), so pixels come back within the RGB -> YUV ->
RGB rounding of limited-range BT.601: at most 1-2 levels per channel (a solid
(200, 100, 50) decodes as (200, 101, 50)).

Usage: ``from tests.synthmedia import make_video, solid_frames``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from avstudio.media.encode import VideoWriter


def solid_frames(n: int, h: int, w: int, rgb: tuple[int, int, int]) -> np.ndarray:
    """``n`` frames of one colour.

    Returns
    -------
    np.ndarray [shape=(n, h, w, 3), uint8]
    """
    frames = np.empty((n, h, w, 3), np.uint8)
    frames[...] = np.asarray(rgb, np.uint8)
    return frames


def ramp_frames(n: int, h: int, w: int) -> np.ndarray:
    """Frame ``i`` is solid grey of level ``(i * 8) % 256``; tells frames apart after decoding.

    Returns
    -------
    np.ndarray [shape=(n, h, w, 3), uint8]
    """
    levels = (np.arange(n) * 8) % 256
    return np.broadcast_to(levels[:, None, None, None], (n, h, w, 3)).astype(np.uint8)


def smooth_texture(h: int, w: int, *, seed: int = 0, sigma: float = 2.5) -> np.ndarray:
    """A blurred random grey texture with full contrast, for optical flow to lock onto.

    Returns
    -------
    np.ndarray [shape=(h, w), uint8]
    """
    import cv2

    noise = np.random.default_rng(seed).random((h, w)).astype(np.float32)
    tex = cv2.GaussianBlur(noise, (0, 0), sigma)
    tex = (tex - tex.min()) / max(float(tex.max() - tex.min()), 1e-6)
    return (tex * 255).astype(np.uint8)


def moving_square(
    n: int,
    h: int,
    w: int,
    *,
    step_px: int,
    size: int,
    seed: int = 0,
) -> np.ndarray:
    """A textured square of side ``size`` sliding right ``step_px`` pixels a frame.

    The square (centred vertically, starting at the left edge) carries a smooth
    random texture so that optical flow sees its interior move, on a black
    background. A ``size`` of at least ``max(h, w) + n * step_px`` fills the
    whole view for all frames: every pixel then moves ``step_px`` a frame (a
    pan), so the mean flow magnitude is ``step_px``.

    Returns
    -------
    np.ndarray [shape=(n, h, w, 3), uint8]
    """
    tex = smooth_texture(size, size, seed=seed)
    frames = np.zeros((n, h, w, 3), np.uint8)
    top = (h - size) // 2
    # The view shows canvas columns [0, w); the square starts at x = 0 when it
    # fits, else it starts far enough left that it still covers the view at the end.
    x0 = 0 if size <= w else w - size
    for i in range(n):
        x = x0 + i * step_px
        xs, xe = max(x, 0), min(x + size, w)
        ys, ye = max(top, 0), min(top + size, h)
        if xs < xe and ys < ye:
            patch = tex[ys - top : ye - top, xs - x : xe - x]
            frames[i, ys:ye, xs:xe] = patch[..., None]
    return frames


def tone(seconds: float, sr: int, freq: float, amp: float = 0.5) -> np.ndarray:
    """A sine wave.

    Returns
    -------
    np.ndarray [shape=(round(seconds * sr),), float32]
    """
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def click_track(seconds: float, sr: int, click_times: Iterable[float], *, amp: float = 0.9) -> np.ndarray:
    """Silence with a short decaying noise burst (10 ms) at each click time.

    Returns
    -------
    np.ndarray [shape=(round(seconds * sr),), float32]
    """
    out = np.zeros(int(round(seconds * sr)), np.float32)
    burst_len = int(0.01 * sr)
    rng = np.random.default_rng(1)
    burst = (rng.uniform(-1, 1, burst_len) * np.exp(-np.arange(burst_len) / (0.002 * sr)) * amp).astype(np.float32)
    for t in click_times:
        start = int(round(t * sr))
        end = min(start + burst_len, len(out))
        if 0 <= start < end:
            out[start:end] += burst[: end - start]
    return out


def make_video(
    path: str | os.PathLike[str],
    frames: np.ndarray | Iterable[np.ndarray],
    *,
    fps: float,
    audio: np.ndarray | None = None,
    audio_sr: int = 44100,
    lossless: bool = True,
    crf: int = 20,
) -> Path:
    """Write frames (one array or an iterable of chunks) to an mp4.

    Parameters
    ----------
    path : str or PathLike
    frames : np.ndarray [shape=(n, h, w, 3), uint8] or iterable of such chunks
    fps : float
    audio : np.ndarray [shape=(n,) or (n, 2), float32], optional
        Encoded as AAC, trimmed or padded to the video's length.
    audio_sr : int
    lossless : bool
        ``True``: x264 ``qp=0`` in yuv444p (any frame size); ``False``:
        ``crf`` in yuv420p (even sizes), like a typical downloaded video.
    crf : int
        Quality when not lossless.

    Returns
    -------
    Path
    """
    chunks = iter([frames] if isinstance(frames, np.ndarray) else frames)
    first = next(chunks, None)
    if first is None or len(first) == 0:
        raise ValueError("make_video needs at least one frame; use make_zero_frame_video")
    first = np.asarray(first, np.uint8)
    with VideoWriter(
        path,
        fps=fps,
        size=(first.shape[2], first.shape[1]),
        crf=0 if lossless else crf,
        audio=audio,
        audio_sr=audio_sr if audio is not None else None,
        pix_fmt="yuv444p" if lossless else "yuv420p",
        preset="ultrafast",
    ) as writer:
        writer.write(first)
        for chunk in chunks:
            writer.write(np.asarray(chunk, np.uint8))
    return Path(path)


def make_zero_frame_video(path: str | os.PathLike[str], *, size: tuple[int, int] = (64, 48), fps: int = 10) -> Path:
    """An mp4 whose video stream was opened and closed without a single frame."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        container.start_encoding()
        container.mux(stream.encode(None))
    return Path(path)


def make_audio_file(path: str | os.PathLike[str], samples: np.ndarray, sr: int) -> Path:
    """Write audio to any format soundfile knows from the extension (.wav, .flac, .ogg).

    ``samples`` : np.ndarray [shape=(n,) or (n, channels), float32].
    """
    import soundfile

    soundfile.write(str(path), np.asarray(samples, np.float32), sr)
    return Path(path)


def make_text_file_named_mp4(path: str | os.PathLike[str]) -> Path:
    """A plain text file with a video extension."""
    Path(path).write_text("this is not a video\n" * 20)
    return Path(path)


def cut_after_index(path: str | os.PathLike[str]) -> Path:
    """Cut a faststart mp4 (index first) where its media data begins, in place.

    The result still declares every frame but holds none of them.
    """
    p = Path(path)
    data = p.read_bytes()
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == b"mdat":
            p.write_bytes(data[: pos + 8])
            return p
        if size < 8:
            break
        pos += size
    raise ValueError(f"no mdat atom in {p}")


def truncate_file(path: str | os.PathLike[str], fraction: float) -> Path:
    """Cut a file to ``fraction`` of its size, in place."""
    p = Path(path)
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * fraction)])
    return p
