"""Write videos (H.264 + AAC), add audio to a video, write WAV files.

Every writer here is atomic: it writes a hidden temporary file next to the
target and moves it into place with :func:`os.replace` only on success, so an
interrupted run never leaves a half-written output behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np

from avstudio.errors import MediaError
from avstudio.files import honour_umask

AAC_BITRATE = 192_000
_LAYOUTS = {1: "mono", 2: "stereo"}


# --------------------------------------------------------------------------- atomic files


def _temp_for(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Check the target's folder and create an empty temporary file in it.

    Returns
    -------
    (target, temp) : tuple of Path
        The temporary file keeps the target's extension (ffmpeg picks the
        container format from it).
    """
    target = Path(path).expanduser().absolute()
    folder = target.parent
    if not folder.is_dir():
        raise MediaError(f"output folder does not exist: {folder}", hint="create the folder or choose another path")
    if target.is_dir():
        raise MediaError(f"output path is a folder: {target}", hint="give a file name such as out.mp4")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=folder)
    except OSError as exc:
        raise MediaError(
            f"cannot write to folder {folder}",
            hint="choose a writable folder or fix its permissions",
        ) from exc
    os.close(fd)
    honour_umask(temp)  # mkstemp makes it 0600; outputs are for sharing like any file
    return target, Path(temp)


def _discard(temp: Path) -> None:
    try:
        temp.unlink()
    except FileNotFoundError:
        pass


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path; on success move it to ``path``, else delete it.

    Raises
    ------
    MediaError
        The target's folder is missing or not writable.
    """
    target, temp = _temp_for(path)
    try:
        yield temp
        os.replace(temp, target)
    finally:
        _discard(temp)


# --------------------------------------------------------------------------- audio helpers


def _planar_audio(audio: np.ndarray, what: str = "audio") -> np.ndarray:
    """Audio as float32 planes, shape (channels, n)."""
    arr = np.asarray(audio, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    elif arr.ndim == 2:
        arr = arr.T
    else:
        raise MediaError(f"{what} must have shape (n,) or (n, channels), got {arr.shape}", hint="pass mono or stereo samples")
    if arr.shape[0] not in _LAYOUTS:
        raise MediaError(
            f"{what} has {arr.shape[0]} channels; only mono and stereo can be encoded",
            hint="mix the audio down to stereo first",
        )
    return np.ascontiguousarray(arr)


class _AudioFeed:
    """Encode a fixed audio array bit by bit, trimmed or zero-padded to a length."""

    def __init__(self, container, audio: np.ndarray, sr: int) -> None:
        if not sr or sr <= 0:
            raise MediaError("audio_sr is required with audio", hint="pass the audio's sample rate, e.g. 44100")
        self.planes = _planar_audio(audio)
        self.sr = int(sr)
        self.layout = _LAYOUTS[self.planes.shape[0]]
        self.stream = container.add_stream("aac", rate=self.sr)
        self.stream.layout = self.layout
        self.stream.bit_rate = AAC_BITRATE
        self.container = container
        self.pos = 0

    def feed_until(self, n_samples: int) -> None:
        """Encode samples ``[pos, n_samples)``, zeros beyond the array's end."""
        import av

        if n_samples <= self.pos:
            return
        have = self.planes.shape[1]
        if self.pos >= have:
            block = np.zeros((self.planes.shape[0], n_samples - self.pos), np.float32)
        else:
            block = self.planes[:, self.pos : min(n_samples, have)]
            if n_samples > have:
                block = np.concatenate([block, np.zeros((block.shape[0], n_samples - have), np.float32)], axis=1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout=self.layout)
        frame.sample_rate = self.sr
        frame.pts = self.pos
        frame.time_base = Fraction(1, self.sr)
        self.container.mux(self.stream.encode(frame))
        self.pos = n_samples

    def finish(self, n_samples: int) -> None:
        self.feed_until(n_samples)
        self.container.mux(self.stream.encode(None))


def _rate(fps: float | Fraction) -> Fraction:
    rate = Fraction(fps).limit_denominator(1001 * 1000)
    if rate <= 0:
        raise MediaError(f"invalid frame rate {fps}", hint="use a positive fps such as 30")
    return rate


# --------------------------------------------------------------------------- video


class VideoWriter:
    """Write RGB frames to an H.264 (libx264) mp4, optionally with AAC audio.

    The video's duration is exactly ``n_frames / fps`` (frame ``i`` has
    ``pts = i`` in a ``1 / fps`` time base). The audio is trimmed or
    zero-padded to that duration when the writer closes. Nothing appears at
    ``path`` until :meth:`close` succeeds.

    Parameters
    ----------
    path : str or PathLike
        The output file (.mp4, .mkv or .mov).
    fps : float or Fraction
        Frame rate.
    size : (w, h)
        Frame size; even for ``pix_fmt="yuv420p"``.
    crf : int
        x264 quality (0 = lossless, 18-23 = visually good).
    audio : np.ndarray [shape=(n,) or (n, channels), float32], optional
        Mono or stereo samples in [-1, 1], encoded as AAC.
    audio_sr : int, optional
        Sample rate of ``audio``.
    pix_fmt : str
        ``"yuv420p"`` (plays everywhere) or ``"yuv444p"`` (exact colours).
    preset : str
        x264 speed preset.

    Examples
    --------
    >>> with VideoWriter("out.mp4", fps=10, size=(64, 48)) as w:  # doctest: +SKIP
    ...     w.write(np.zeros((20, 48, 64, 3), np.uint8))
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float | Fraction,
        size: tuple[int, int],
        crf: int = 20,
        audio: np.ndarray | None = None,
        audio_sr: int | None = None,
        pix_fmt: str = "yuv420p",
        preset: str = "medium",
    ) -> None:
        import av
        from av.video.reformatter import VideoReformatter

        self.width, self.height = (int(v) for v in size)
        if pix_fmt == "yuv420p" and (self.width % 2 or self.height % 2):
            raise MediaError(
                f"H.264 (yuv420p) needs an even frame size, got {self.width}x{self.height}",
                hint="use avstudio.media.probe.analysis_size to pick an even size",
            )
        self.rate = _rate(fps)
        self.n_frames = 0
        self.target, self.temp = _temp_for(path)
        try:
            self.container = av.open(str(self.temp), mode="w", options={"movflags": "+faststart"})
            stream = self.container.add_stream("libx264", rate=self.rate)
            stream.width, stream.height = self.width, self.height
            stream.pix_fmt = pix_fmt
            quality = {"qp": "0"} if crf == 0 else {"crf": str(crf)}  # qp 0: lossless
            stream.options = {**quality, "preset": preset}
            ctx = stream.codec_context
            ctx.time_base = 1 / self.rate
            ctx.colorspace = 6  # SMPTE 170M / BT.601: the matrix swscale uses by default
            ctx.color_range = 1  # limited ("tv") range
            self.stream = stream
            self.audio = _AudioFeed(self.container, audio, audio_sr) if audio is not None else None
        except BaseException:
            self._abort()
            raise
        self.pix_fmt = pix_fmt
        self._reformatter = VideoReformatter()
        self._closed = False

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()

    def write(self, frames: np.ndarray) -> None:
        """Append frames.

        Parameters
        ----------
        frames : np.ndarray [shape=(n, h, w, 3) or (h, w, 3), uint8]
            RGB frames of the writer's size.
        """
        import av

        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[1:] != (self.height, self.width, 3) or frames.dtype != np.uint8:
            raise MediaError(
                f"frames must be uint8 (n, {self.height}, {self.width}, 3), got {frames.dtype} {frames.shape}",
                hint="resize the frames to the writer's size",
            )
        try:
            for rgb in frames:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame = self._reformatter.reformat(frame, format=self.pix_fmt)
                frame.pts = self.n_frames
                self.container.mux(self.stream.encode(frame))
                self.n_frames += 1
            if self.audio is not None:
                self.audio.feed_until(self._audio_samples())
        except BaseException:
            self._abort()
            raise

    def _audio_samples(self) -> int:
        return int(round(self.n_frames * self.audio.sr / self.rate))

    def close(self) -> None:
        """Flush the encoders and move the file into place."""
        if self._closed:
            return
        if self.n_frames == 0:
            self._abort()
            raise MediaError(f"no frames were written to {self.target.name}", hint="write at least one frame")
        try:
            self.container.mux(self.stream.encode(None))
            if self.audio is not None:
                self.audio.finish(self._audio_samples())
            self.container.close()
            os.replace(self.temp, self.target)
        except BaseException:
            self._abort()
            raise
        self._closed = True

    def _abort(self) -> None:
        """Close without publishing; the temporary file is deleted."""
        self._closed = True
        container = getattr(self, "container", None)
        if container is not None:
            try:
                container.close()
            except Exception:  # already failing; the temp file goes anyway
                pass
        _discard(self.temp)


def mux_audio(
    video_path: str | os.PathLike[str],
    audio: np.ndarray,
    audio_sr: int,
    out_path: str | os.PathLike[str],
) -> None:
    """Copy a video's video stream (no re-encode) and add new AAC audio.

    Any audio streams of ``video_path`` (a 5.1 track, say) are dropped. The
    new audio is trimmed or zero-padded to the video stream's duration.

    Parameters
    ----------
    video_path : str or PathLike
        The source video.
    audio : np.ndarray [shape=(n,) or (n, channels), float32]
        Mono or stereo samples in [-1, 1].
    audio_sr : int
        Sample rate of ``audio``.
    out_path : str or PathLike
        The output file; may equal ``video_path``.
    """
    import av

    from avstudio.media.probe import open_input, stream_duration

    with open_input(video_path) as source:
        if not source.streams.video:
            raise MediaError(f"no video stream in {video_path}", hint="pass a video file")
        in_video = source.streams.video[0]
        n_samples = int(round(stream_duration(in_video, source) * audio_sr))
        with atomic_output(out_path) as temp:
            with av.open(str(temp), mode="w", options={"movflags": "+faststart"}) as out:
                out_video = out.add_stream_from_template(in_video)
                feed = _AudioFeed(out, audio, audio_sr)
                start = in_video.start_time or 0
                for packet in source.demux(in_video):
                    if packet.dts is None:
                        continue  # the demuxer's end-of-stream marker
                    if packet.pts is not None:
                        t = float((packet.pts - start) * in_video.time_base)
                        feed.feed_until(min(n_samples, max(0, int(t * audio_sr))))
                    packet.stream = out_video
                    out.mux(packet)
                feed.finish(n_samples)


def write_wav(
    path: str | os.PathLike[str],
    samples: np.ndarray,
    sr: int,
    *,
    subtype: str = "PCM_16",
) -> None:
    """Write a WAV file atomically.

    Parameters
    ----------
    path : str or PathLike
        The output file.
    samples : np.ndarray [shape=(n,) or (n, channels), float32]
        Samples in [-1, 1]; clipped for integer subtypes.
    sr : int
        Sample rate.
    subtype : str
        A soundfile subtype: ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``...
    """
    import soundfile

    data = np.asarray(samples, dtype=np.float32)
    if subtype.startswith("PCM"):
        data = np.clip(data, -1.0, 1.0)
    with atomic_output(path) as temp:
        soundfile.write(str(temp), data, int(sr), subtype=subtype, format="WAV")


def read_video_duration(path: str | os.PathLike[str]) -> float:
    """Seconds covered by the first video stream of ``path``."""
    from avstudio.media.probe import probe

    return probe(path).duration


def check_writable(path: Path) -> None:
    """Raise MediaError before any work when the output file ``path`` cannot be written
    (its folder cannot be created or written, or the file itself is read-only)."""
    import os

    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise MediaError(f"{path} is a folder", hint="pass a file name such as out.mp4")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MediaError(f"cannot create output folder {folder}: {exc.strerror}",
                         hint="check the workspace's permissions and free space") from None
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise MediaError(f"{path} cannot be written", hint=f"check the permissions of {folder}, or choose another --out")

