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


def _blocks(container, stream, *, mono: bool = True, start: float | None = None) -> Iterator[np.ndarray]:
    """Decode ``stream`` at its own rate to mono blocks ``(n,)``, or ``(n, channels)`` blocks with ``mono=False``.

    More than two channels (5.1, 7.1, ...) are downmixed to stereo by FFmpeg's
    resampler with the standard matrix (centre and surrounds at -3 dB, LFE
    dropped), scaled so it cannot exceed full scale; a layout it cannot
    place is averaged into two halves instead.
    Samples are converted to packed float: PyAV's planar path reads past the
    eighth plane of a 7.1 frame and crashes the process.

    ``start`` (seconds on the container's clock) becomes sample 0: audio
    before it is cut, and a track that begins later is preceded by silence.
    """
    import av

    from avstudio.media.probe import decoded_frames

    remaining = _declared_samples(container, stream)
    resampler = None
    for frame in decoded_frames(container, stream):
        channels = frame.layout.nb_channels
        if resampler is None:
            rate = frame.sample_rate
            target = frame.layout.name if channels <= 2 else "stereo"
            resampler = av.AudioResampler(format="flt", layout=target, rate=rate)
            gain = _downmix_gain(frame.layout, rate) if channels > 2 else 1.0
            if start is not None and frame.time is not None:
                lead = int(round((frame.time - start) * rate))
                if lead > 0:
                    silence = np.zeros(lead if mono else (lead, min(channels, 2)), np.float32)
                    yield silence
                skip = max(0, -lead)
            else:
                skip = 0
        try:
            outs = resampler.resample(frame)
        except (av.error.FFmpegError, ValueError):
            # A layout the downmix cannot place: average the channels into two halves.
            resampler = av.AudioResampler(format="flt", layout=frame.layout, rate=frame.sample_rate)
            outs = [_halves(out) for out in resampler.resample(frame)]
        for out in outs:
            if isinstance(out, np.ndarray):
                block = out
            else:
                block = out.to_ndarray().reshape(-1, out.layout.nb_channels) * gain
            if mono:
                block = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
            block = np.ascontiguousarray(block, dtype=np.float32)
            if remaining is not None:
                block = block[:remaining]
                remaining -= len(block)
            if skip:
                cut = min(skip, len(block))
                block, skip = block[cut:], skip - cut
            if len(block):
                yield block


def _downmix_gain(layout, rate: int) -> float:
    """1 / the largest sum of FFmpeg's downmix coefficients to stereo, so the mix cannot exceed full scale.

    Measured by downmixing a frame of ones with a resampler of its own.
    """
    import av

    ones = np.ones((1, 256 * layout.nb_channels), np.float32)
    try:
        frame = av.AudioFrame.from_ndarray(ones, format="flt", layout=layout.name)
        frame.sample_rate = rate
        mixed = av.AudioResampler(format="flt", layout="stereo", rate=rate).resample(frame)
        peak = max(float(np.abs(out.to_ndarray()).max()) for out in mixed) if mixed else 1.0
    except (av.error.FFmpegError, ValueError):
        return 1.0
    return 1.0 / max(peak, 1.0)


def _halves(frame) -> np.ndarray:
    """A packed frame of any channel count as stereo: the mean of the first and of the second half."""
    pcm = frame.to_ndarray().reshape(-1, frame.layout.nb_channels)
    half = max(1, pcm.shape[1] // 2)
    return np.stack([pcm[:, :half].mean(axis=1), pcm[:, half:].mean(axis=1)], axis=1)


def iter_audio(
    path: str | os.PathLike[str],
    *,
    sr: int | None = None,
    chunk_seconds: float = 30.0,
    start: float | None = None,
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
    start : float, optional
        Time 0 on the container's clock, in seconds: pass a video's first
        frame time (``MediaInfo.video_start``) to cut or pad the audio to the
        picture. ``None`` starts at the audio's first sample.

    Yields
    ------
    samples : np.ndarray [shape=(n,), float32]
        Consecutive blocks of the mono mix (mean of the channels; more than
        two are first downmixed to stereo).

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

        for block in _blocks(container, stream, start=start):
            yield from take(block)
        yield from take(np.zeros(0, np.float32), last=True)


def read_audio(
    path: str | os.PathLike[str],
    *,
    sr: int | None = None,
    max_seconds: float | None = None,
    mono: bool = True,
    start: float | None = None,
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
        ``(n, channels)``, except that more than two are downmixed to stereo.
    start : float, optional
        Time 0 on the container's clock (see :func:`iter_audio`).

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
        for block in _blocks(container, stream, mono=mono, start=start):
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
