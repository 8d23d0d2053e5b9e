"""Test media shaped like real-world files: variable frame rate, start offsets, old and new codecs,
many audio channels, rotation metadata, still images.

Every writer uses PyAV directly with explicit timestamps, so each file's timing is known exactly.
Frames are solid grey levels (``frame_levels``) so that a decoded frame tells which source frame
it was; the audio is silence with beeps at chosen times.

Usage: ``from tests.wildmedia import write_clip, beeps, rotate_mp4``.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

TIME_BASE = Fraction(1, 90_000)


def beeps(seconds: float, sr: int, times: list[float], *, freq: float = 1000.0, length: float = 0.1,
          channels: int = 1) -> np.ndarray:
    """Silence with a sine beep starting at each of ``times``.

    Returns
    -------
    np.ndarray [shape=(round(seconds * sr), channels), float32]
    """
    out = np.zeros(int(round(seconds * sr)), np.float32)
    n = int(length * sr)
    beep = (0.5 * np.sin(2 * np.pi * freq * np.arange(n) / sr)).astype(np.float32)
    for t in times:
        s = int(round(t * sr))
        out[s:s + n] = beep[: len(out[s:s + n])]
    return np.repeat(out[:, None], channels, axis=1)


def write_clip(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    times: np.ndarray | list[float],
    *,
    codec: str = "libx264",
    fmt: str | None = None,
    pix_fmt: str = "yuv420p",
    audio: np.ndarray | None = None,
    audio_sr: int = 48_000,
    audio_start: float = 0.0,
    audio_codec: str = "aac",
    layout: str | None = None,
    rate: int | None = None,
) -> Path:
    """Write ``frames`` shown at ``times`` (seconds on the container clock) and optional audio.

    Parameters
    ----------
    frames : np.ndarray [shape=(n, h, w, 3), uint8]
    times : array of float [shape=(n,)]
        Presentation time of each frame; irregular steps make a variable-frame-rate file, a first
        time above 0 a video that starts late.
    codec, fmt, pix_fmt : str
        Video encoder, container format (default: from the extension) and pixel format.
    audio : np.ndarray [shape=(m, channels), float32], optional
        Samples starting at ``audio_start`` seconds on the container clock.
    audio_codec, layout : str
        Audio encoder and channel layout (default: from the channel count).
    rate : int, optional
        Makes ``1 / rate`` the time base, for containers with a frame-rate time base (AVI); the
        frame times must then be on its grid. Otherwise the time base is 1/90000 and the
        declared rate is the median step's.
    """
    import av

    times = np.asarray(times, float)
    h, w = frames.shape[1:3]
    with av.open(str(path), mode="w", format=fmt) as out:
        if rate:
            video = out.add_stream(codec, rate=rate)
            tb = Fraction(1, rate)
        else:
            nominal = round(1 / float(np.median(np.diff(times)))) if len(times) > 1 else 25
            video = out.add_stream(codec, rate=nominal)
            tb = TIME_BASE
        video.width, video.height, video.pix_fmt = w, h, pix_fmt
        video.codec_context.time_base = tb
        if codec == "libx264":
            video.options = {"preset": "ultrafast", "bf": "2"}
        sound = None
        if audio is not None:
            channels = audio.shape[1]
            sound = out.add_stream(audio_codec, rate=audio_sr)
            sound.layout = layout or {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}[channels]
        packets = []
        for img, t in zip(frames, times):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24").reformat(format=pix_fmt)
            frame.pts = int(round(t / tb))
            frame.time_base = tb
            packets += video.encode(frame)
        packets += video.encode(None)
        if sound is not None:
            # Packed s16 frames: PyAV's planar path mishandles more than 8 planes.
            fmt_name = "s16" if audio_codec.startswith("pcm") else sound.codec_context.format.name
            pcm = np.clip(audio, -1, 1)
            block = sound.codec_context.frame_size or 1024
            for start in range(0, len(pcm), block):
                part = pcm[start:start + block]
                if fmt_name == "s16":
                    arr = (part * 32767).astype(np.int16).reshape(1, -1)
                else:  # planar float
                    arr = np.ascontiguousarray(part.T, np.float32)
                frame = av.AudioFrame.from_ndarray(arr, format=fmt_name, layout=sound.layout.name)
                frame.sample_rate = audio_sr
                frame.pts = start + int(round(audio_start * audio_sr))
                frame.time_base = Fraction(1, audio_sr)
                packets += sound.encode(frame)
            packets += sound.encode(None)
        # Interleave by time as a muxer expects.
        packets.sort(key=lambda p: float(p.dts * p.time_base) if p.dts is not None else 0.0)
        for packet in packets:
            out.mux(packet)
    return Path(path)


def frame_levels(n: int, h: int = 48, w: int = 64, *, cut: int | None = None) -> np.ndarray:
    """Grey frames: dark (level 30) before frame ``cut``, bright (220) from it on.

    Returns
    -------
    np.ndarray [shape=(n, h, w, 3), uint8]
    """
    levels = np.full(n, 30, np.uint8)
    if cut is not None:
        levels[cut:] = 220
    return np.broadcast_to(levels[:, None, None, None], (n, h, w, 3)).copy()


def rotate_mp4(path: str | os.PathLike[str], degrees: int = 90) -> Path:
    """Set the display matrix of an mp4's first track (``tkhd``) to a rotation, in place.

    This is what phones write: the pixels stay as recorded and players turn the picture.
    """
    data = bytearray(Path(path).read_bytes())
    at = data.find(b"tkhd")
    if at < 0:
        raise ValueError("no tkhd box")
    version = data[at + 4]
    matrix = at + 4 + 4 + (32 if version == 1 else 20) + 16
    one, minus = 0x00010000, 0xFFFF0000
    a, b, c, d = {90: (0, one, minus, 0), 180: (minus, 0, 0, minus), 270: (0, minus, one, 0)}[degrees]
    values = [a, b, 0, c, d, 0, 0, 0, 0x40000000]
    data[matrix:matrix + 36] = b"".join(v.to_bytes(4, "big") for v in values)
    Path(path).write_bytes(bytes(data))
    return Path(path)


def still_png(path: str | os.PathLike[str], h: int = 48, w: int = 64) -> Path:
    """A PNG picture (one frame)."""
    import cv2

    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = 200
    cv2.imwrite(str(path), img)
    return Path(path)
