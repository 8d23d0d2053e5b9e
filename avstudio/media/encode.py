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
from avstudio.files import honour_umask, storage_error, translate_os_errors

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
        with translate_os_errors(target.parent, temps=[temp], what=target.name):  # disk full: one line
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
        except BaseException as exc:
            self._abort()
            self._raise_failed_write(exc)

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
        except BaseException as exc:
            self._abort()
            self._raise_failed_write(exc)
        self._closed = True

    def _raise_failed_write(self, exc: BaseException) -> None:
        """Re-raise ``exc``; a full, read-only or unwritable folder as one :class:`StorageError` line."""
        err = storage_error(exc, self.target.parent, what=self.target.name)
        if err is None:
            raise exc
        raise err from exc

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


COPY_CODECS = ("h264", "hevc", "av1")
"""Video codecs stream-copied into an MP4: ones it carries and every current player decodes.
Anything else (MPEG-4 Part 2, MS-MPEG4, VP9, ProRes, MJPEG, ...) is re-encoded to H.264."""


def mux_audio(
    video_path: str | os.PathLike[str],
    audio: np.ndarray,
    audio_sr: int,
    out_path: str | os.PathLike[str],
    *,
    crf: int = 20,
) -> str:
    """The video of ``video_path`` with new AAC audio, as an MP4 that plays everywhere.

    The first video frame becomes time 0 of the output (a file whose picture
    starts late keeps its sound in sync), and the audio is trimmed or
    zero-padded to the video stream's duration. H.264, HEVC and AV1 are
    copied without re-encoding, keeping frame times (variable frame rate) and
    the display rotation; other codecs are re-encoded to H.264 (yuv420p, even
    size, the pictures turned upright) with the same frame times. Any audio
    streams of ``video_path`` (a 5.1 track, say) are dropped.

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
    crf : int
        x264 quality when the video is re-encoded.

    Returns
    -------
    str
        ``"copied"`` or ``"re-encoded"``.
    """
    from avstudio.media.probe import open_input

    with open_input(video_path) as source:
        if not source.streams.video:
            raise MediaError(f"no video stream in {video_path}", hint="pass a video file")
        codec = source.streams.video[0].codec_context.codec.canonical_name
    if codec in COPY_CODECS:
        try:
            _mux(video_path, audio, audio_sr, out_path, copy=True, crf=crf)
            return "copied"
        except _CannotCopy:
            pass  # e.g. a codec the MP4 muxer of this FFmpeg build refuses
    _mux(video_path, audio, audio_sr, out_path, copy=False, crf=crf)
    return "re-encoded"


class _CannotCopy(MediaError):
    """The output container refused the source's video stream."""


def _mux(video_path, audio, audio_sr, out_path, *, copy: bool, crf: int) -> None:
    """Write ``out_path`` from the video of ``video_path`` and ``audio``, copying or re-encoding the video."""
    import av

    from avstudio.media.probe import display_rotation, open_input, stream_duration

    turns = 0 if copy else display_rotation(video_path) // 90
    dts_fix = _decode_times(video_path) if copy else None
    with open_input(video_path) as source:
        in_video = source.streams.video[0]
        in_video.thread_type = "AUTO"
        tb = in_video.time_base
        start = in_video.start_time or 0
        n_samples = int(round(stream_duration(in_video, source) * audio_sr))
        with atomic_output(out_path) as temp:
            with av.open(str(temp), mode="w", options={"movflags": "+faststart"}) as out:
                if copy:
                    try:
                        out_video = out.add_stream_from_template(in_video, opaque=True)
                        if in_video.codec_context.codec.canonical_name == "hevc":
                            out_video.codec_context.codec_tag = "hvc1"  # what Apple's players require
                    except (av.error.FFmpegError, ValueError) as exc:
                        raise _CannotCopy(str(exc)) from None
                else:
                    out_video = _h264_like(out, in_video, turns, crf)
                feed = _AudioFeed(out, audio, audio_sr)

                def feed_to(pts) -> None:
                    if pts is not None:
                        t = float((pts - start) * tb)
                        feed.feed_until(min(n_samples, max(0, int(t * audio_sr))))

                try:
                    if copy:
                        index = 0
                        for packet in source.demux(in_video):
                            if packet.size == 0:
                                continue  # the demuxer's end-of-stream marker
                            if dts_fix is not None:
                                packet.dts = dts_fix[index]
                            index += 1
                            if packet.dts is None or packet.pts is None:
                                raise _CannotCopy("a packet without timestamps")
                            feed_to(packet.pts)
                            packet.pts -= start
                            packet.dts -= start
                            packet.stream = out_video
                            out.mux(packet)
                    else:
                        for frame in _frames(source, in_video):
                            feed_to(frame.pts)
                            out.mux(out_video.encode(_upright(frame, out_video, turns, start)))
                        out.mux(out_video.encode(None))
                except (av.error.FFmpegError, ValueError) as exc:
                    if copy:
                        raise _CannotCopy(str(exc)) from None
                    raise
                feed.finish(n_samples)


def _decode_times(path) -> list[int] | None:
    """Decode timestamps for a video stream whose container stores only presentation times (Matroska).

    MP4 needs both. The ``i``-th packet gets the ``i``-th smallest pts less
    the largest reordering delay, which keeps every dts at or before its pts
    and strictly increasing. ``None`` when every packet has its dts already.
    """
    from avstudio.media.probe import open_input

    with open_input(path) as source:
        stream = source.streams.video[0]
        stamps = [(p.pts, p.dts) for p in source.demux(stream) if p.size]
    if all(dts is not None for _, dts in stamps) or any(pts is None for pts, _ in stamps):
        return None
    pts = [p for p, _ in stamps]
    ordered = sorted(pts)
    delay = max(o - p for o, p in zip(ordered, pts))
    return [o - delay for o in ordered]


def _h264_like(out, in_video, turns: int, crf: int):
    """An H.264 stream for re-encoding ``in_video``: its time base, an even upright size."""
    from avstudio.media.probe import stream_rate

    ctx = in_video.codec_context
    w, h = int(ctx.width), int(ctx.height)
    if turns % 2:
        w, h = h, w
    stream = out.add_stream("libx264", rate=stream_rate(in_video) or 25)
    stream.width, stream.height = max(2, w - w % 2), max(2, h - h % 2)
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": str(crf), "preset": "medium"}
    stream.codec_context.time_base = in_video.time_base
    return stream


def _frames(source, in_video):
    """Decoded frames of ``in_video`` with a pts each (counted on from the last when missing)."""
    from avstudio.media.probe import decoded_frames

    last = None
    step = max(1, int(round(1 / (float(in_video.average_rate or 25) * in_video.time_base))))
    for frame in decoded_frames(source, in_video):
        if frame.pts is None or (last is not None and frame.pts <= last):
            frame.pts = last + step if last is not None else (in_video.start_time or 0)
        last = frame.pts
        yield frame


def _upright(frame, stream, turns: int, start: int):
    """``frame`` as yuv420p of the stream's size, turned upright, its pts counted from ``start``."""
    import av

    pts = frame.pts - start
    if turns:
        w, h = (stream.height, stream.width) if turns % 2 else (stream.width, stream.height)
        rgb = frame.to_ndarray(format="rgb24", width=w, height=h)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rot90(rgb, turns)), format="rgb24")
    frame = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
    frame.pts = pts
    frame.time_base = stream.codec_context.time_base
    return frame


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

