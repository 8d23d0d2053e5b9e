"""Read the audio of any file PyAV opens, as a mono float32 mix.

Decoding goes through PyAV (wav, flac, ogg, mp3, the AAC track of an mp4...);
resampling uses soxr (what ``librosa.resample`` uses by default), which is
fast, high quality and can stream.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avstudio.errors import MediaError
from avstudio.media.probe import open_input


@dataclass
class AudioTrack:
    """A file's audio: a mono mix, or its channels (``read_audio(..., mono=False)``).

    Attributes
    ----------
    samples : np.ndarray [shape=(n,) or (n, channels), float32]
        The mean of the source channels, or the channels (at most two), in [-1, 1].
    sr : int
        Sample rate of ``samples``.
    channels : int
        Channel count of the source stream.
    """

    samples: np.ndarray
    sr: int
    channels: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sr if self.sr else 0.0

    def mix(self) -> np.ndarray:
        """The mono mix [shape=(n,), float32]."""
        return self.samples.mean(axis=1, dtype=np.float32) if self.samples.ndim == 2 else self.samples


def resample(samples: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Change the sample rate of a mono signal (soxr, high quality).

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
    sr_from, sr_to : int

    Returns
    -------
    np.ndarray [shape=(m,), float32]
        ``m`` is ``n * sr_to / sr_from`` rounded.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if sr_from == sr_to or len(samples) == 0:
        return samples
    import soxr

    return soxr.resample(samples, sr_from, sr_to, quality="HQ").astype(np.float32, copy=False)


_EXACT_LENGTH_CONTAINERS = ("mov", "mp4", "ogg", "flac", "wav")


def _declared_samples(container, stream) -> int | None:
    """The sample count the container declares for ``stream``, where it is exact.

    Lossy decoders return whole codec frames (1024 samples for AAC), so the
    last one overshoots the real end. mp4/mov (edit lists) and ogg (granule
    positions) store the exact length; other containers may only estimate it
    from the bit rate, so their decoded length is kept as is.
    """
    names = container.format.name.split(",")
    if not any(name in _EXACT_LENGTH_CONTAINERS for name in names):
        return None
    if not stream.duration or stream.time_base is None or not stream.rate:
        return None
    return int(round(float(stream.duration * stream.time_base) * stream.rate))


def _mono_blocks(container, stream, *, mono: bool = True) -> Iterator[np.ndarray]:
    """Decode ``stream`` to mono float32 blocks at its own rate (``mono=False``: ``(n, channels)`` blocks)."""
    import av

    remaining = _declared_samples(container, stream)
    resampler = None
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            continue  # a damaged packet: skip it, as players do
        for frame in frames:
            if resampler is None:
                # Planar float at the source rate and layout: only a format change.
                resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=frame.sample_rate)
            for out in resampler.resample(frame):
                planes = out.to_ndarray()
                if not mono:
                    block = np.ascontiguousarray(planes.T, dtype=np.float32)
                elif planes.shape[0] > 1:
                    block = planes.mean(axis=0, dtype=np.float32)
                else:
                    block = planes[0].astype(np.float32)
                if remaining is not None:
                    block = block[:remaining]
                    remaining -= len(block)
                if len(block):
                    yield block


def iter_audio(
    path: str | os.PathLike[str],
    *,
    sr: int | None = None,
    chunk_seconds: float = 30.0,
) -> Iterator[np.ndarray]:
    """Stream a file's audio as mono float32 blocks, in bounded memory.

    Parameters
    ----------
    path : str or PathLike
        Any file PyAV reads (wav, flac, ogg, mp3, mp4...).
    sr : int, optional
        Output rate; ``None`` keeps the source rate.
    chunk_seconds : float
        Length of each yielded block (the last may be shorter).

    Yields
    ------
    samples : np.ndarray [shape=(n,), float32]
        Consecutive blocks of the mono mix (mean of the channels).

    Raises
    ------
    MediaError
        The file is missing, not media, or has no audio stream.
    """
    name = Path(path).name
    with open_input(path) as container:
        if not container.streams.audio:
            raise MediaError(f"no audio stream in {name}", hint="pass a file with sound, or leave audio unset")
        stream = container.streams.audio[0]
        src_sr = int(stream.rate)
        out_sr = int(sr or src_sr)
        stream_resampler = None
        if out_sr != src_sr:
            import soxr

            stream_resampler = soxr.ResampleStream(src_sr, out_sr, 1, dtype="float32", quality="HQ")
        block_len = max(1, int(round(chunk_seconds * out_sr)))
        pending: list[np.ndarray] = []
        n_pending = 0

        def take(samples: np.ndarray, last: bool = False) -> Iterator[np.ndarray]:
            nonlocal n_pending
            if stream_resampler is not None:
                samples = stream_resampler.resample_chunk(samples, last=last)
            if len(samples):
                pending.append(samples)
                n_pending += len(samples)
            while n_pending >= block_len or (last and n_pending):
                joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
                out, rest = joined[:block_len], joined[block_len:]
                pending.clear()
                if len(rest):
                    pending.append(rest)
                n_pending = len(rest)
                yield out

        for block in _mono_blocks(container, stream):
            yield from take(block)
        yield from take(np.zeros(0, np.float32), last=True)


def read_audio(
    path: str | os.PathLike[str],
    *,
    sr: int | None = None,
    max_seconds: float | None = None,
    mono: bool = True,
) -> AudioTrack | None:
    """Read a file's whole audio stream as a mono mix (or with its channels, ``mono=False``).

    Parameters
    ----------
    path : str or PathLike
        Any file PyAV reads: wav, flac, ogg, mp3, mp4/aac, a video's audio.
    sr : int, optional
        Output rate; ``None`` keeps the source rate.
    max_seconds : float, optional
        Read at most this many seconds.
    mono : bool
        Mix to mono (``samples`` of shape ``(n,)``); False keeps the channels,
        ``(n, channels)``, except that more than two are mixed down to stereo
        (even channels left, odd right).

    Returns
    -------
    AudioTrack or None
        ``None`` when the file has no audio stream.

    Raises
    ------
    MediaError
        The file is missing, unreadable or not media.
    """
    with open_input(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        src_sr = int(stream.rate)
        channels = int(stream.channels)
        limit = int(round(max_seconds * src_sr)) if max_seconds is not None else None
        blocks: list[np.ndarray] = []
        total = 0
        for block in _mono_blocks(container, stream, mono=mono):
            if block.ndim == 2 and block.shape[1] > 2:
                block = np.stack([block[:, 0::2].mean(axis=1), block[:, 1::2].mean(axis=1)], axis=1)
            blocks.append(block)
            total += len(block)
            if limit is not None and total >= limit:
                break
    empty = np.zeros(0 if mono else (0, min(channels, 2)), np.float32)
    samples = np.concatenate(blocks) if blocks else empty
    if limit is not None:
        samples = samples[:limit]
    out_sr = int(sr or src_sr)
    if samples.ndim == 2 and out_sr != src_sr:
        samples = np.stack([resample(np.ascontiguousarray(c), src_sr, out_sr) for c in samples.T], axis=1)
        return AudioTrack(samples=samples, sr=out_sr, channels=channels)
    return AudioTrack(samples=resample(samples, src_sr, out_sr), sr=out_sr, channels=channels)
