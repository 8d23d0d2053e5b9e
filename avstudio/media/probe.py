"""What a media file holds: streams, size, rate, length.

:func:`open_input` is the one place that turns PyAV's open errors into
:class:`~avstudio.errors.MediaError`; decode and audio reuse it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from avstudio.errors import ManifestError, MediaError

MEDIA_HINT = "pass a video or audio file that ffmpeg can read, such as .mp4, .mkv, .wav or .mp3"


@dataclass(frozen=True)
class MediaInfo:
    """The streams and timing of one media file.

    ``fps``, ``n_frames`` and ``duration`` describe the first video stream when
    there is one, else the first audio stream (``fps`` 0, ``n_frames`` 0).
    ``n_frames`` is the container's index count when it has one (mp4, mov),
    else ``round(duration * fps)``.

    ``width`` and ``height`` are the upright picture's: a phone clip recorded
    sideways with a 90-degree display rotation reports its portrait size, and
    ``rotation`` says how far the decoded pixels must turn (counterclockwise
    degrees, a multiple of 90). ``video_start`` and ``audio_start`` are the
    first presentation times on the container's clock, in seconds: avstudio
    takes the first video frame as time 0 and shifts the audio to match.
    """

    path: str
    container: str
    has_video: bool
    width: int
    height: int
    fps: float
    fps_fraction: tuple[int, int]
    n_frames: int
    duration: float
    video_codec: str | None
    has_audio: bool
    audio_rate: int
    audio_channels: int
    audio_codec: str | None
    video_start: float = 0.0
    audio_start: float = 0.0
    rotation: int = 0

    @property
    def audio_offset(self) -> float:
        """Seconds the audio starts after the first video frame (negative: before it)."""
        return self.audio_start - self.video_start if self.has_video and self.has_audio else 0.0

    @property
    def is_still(self) -> bool:
        """A picture (PNG, JPEG, ...) read through FFmpeg's image demuxers, not a video."""
        return self.container == "image2" or self.container.endswith("_pipe")

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data["fps_fraction"] = list(self.fps_fraction)
        return data


def still_image_error(path: str | os.PathLike[str]) -> MediaError:
    """The refusal for a picture or a one-frame file where a video is needed."""
    return MediaError(
        f"{Path(path).name} is a still image (one frame), not a video",
        hint="pass a video; to use a picture, first make a clip of it "
             "(e.g. ffmpeg -loop 1 -t 10 -i picture.png clip.mp4)",
    )


def check_readable(path: str | os.PathLike[str]) -> Path:
    """Resolve ``path`` and check that it is a readable file.

    Raises
    ------
    MediaError
        If the file is missing, a directory, or not readable.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise MediaError(f"file not found: {p}", hint="check the path; it is relative to the current folder")
    if p.is_dir():
        raise MediaError(f"is a folder, not a media file: {p}", hint=MEDIA_HINT)
    if not p.is_file():  # a pipe or device could block a reader forever
        raise MediaError(f"not a regular file: {p}", hint=MEDIA_HINT)
    if not os.access(p, os.R_OK):
        raise MediaError(f"file is not readable: {p}", hint=f"fix its permissions, e.g. chmod u+r {p}")
    return p.resolve()


def open_input(path: str | os.PathLike[str]):
    """Open ``path`` with PyAV for reading, mapping failures to MediaError.

    Returns
    -------
    av.container.InputContainer
        The caller closes it (use it as a context manager).
    """
    import av

    p = check_readable(path)
    if p.stat().st_size == 0:
        raise MediaError(f"file is empty: {p}", hint=MEDIA_HINT)
    try:
        container = av.open(str(p), mode="r", timeout=30.0)
    except PermissionError as exc:
        raise MediaError(f"file is not readable: {p}", hint=f"fix its permissions, e.g. chmod u+r {p}") from exc
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(
            f"not a media file (or truncated before its index): {p}",
            hint=MEDIA_HINT,
        ) from exc
    if not container.streams.video and not container.streams.audio:
        container.close()
        raise MediaError(
            f"no video or audio streams in {p} (an empty or zero-frame file)",
            hint="re-export the media; it holds no frames",
        )
    return container


def decoded_frames(container, stream):
    """Every decoded frame of ``stream``, skipping damaged packets as players do."""
    import av

    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            continue
        yield from frames


def stream_rate(stream) -> Fraction:
    """The frame rate of a video stream as a Fraction (0 when unknown)."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return Fraction(0)


def stream_start(stream) -> float | None:
    """The first presentation time of ``stream`` in seconds on the container clock (None: unknown)."""
    if stream.start_time is None or stream.time_base is None:
        return None
    return float(stream.start_time * stream.time_base)


def stream_duration(stream, container) -> float:
    """Seconds covered by ``stream``.

    Containers without per-stream durations (Matroska, some AVIs) give the
    container's span instead, less the time before this stream starts: a
    video that starts 0.5 s after its audio is 0.5 s shorter than the file.
    """
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        span = container.duration / 1_000_000
        start = stream_start(stream)
        if start is not None and container.start_time is not None:
            span -= max(0.0, start - container.start_time / 1_000_000)
        return max(span, 0.0)
    return 0.0


def display_rotation(path: str | os.PathLike[str]) -> int:
    """How far the decoded pictures of a video must turn to stand upright.

    Phones record sideways and set a display matrix; FFmpeg attaches it to
    each decoded frame (PyAV does not expose the stream's copy), so this
    opens the file and decodes its first frame.

    Returns
    -------
    int
        Counterclockwise degrees: 0, 90, 180 or 270 (0 without a video stream).
    """
    import av

    try:
        with av.open(str(path), mode="r", timeout=30.0) as container:
            if not container.streams.video:
                return 0
            for frame in container.decode(container.streams.video[0]):
                return int(round(frame.rotation / 90.0)) * 90 % 360
    except (av.error.FFmpegError, OSError, ValueError, AttributeError):
        pass
    return 0


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Read the stream headers of a media file (no decoding).

    Parameters
    ----------
    path : str or PathLike
        The media file.

    Returns
    -------
    MediaInfo

    Raises
    ------
    MediaError
        Missing, unreadable, not media, or without any audio/video stream.
    """
    with open_input(path) as container:
        resolved = str(Path(path).expanduser().resolve())
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        width = height = n_frames = 0
        fps = Fraction(0)
        duration = 0.0
        video_codec = None
        video_start = audio_start = 0.0
        rotation = 0
        if video is not None:
            ctx = video.codec_context
            width, height = int(ctx.width), int(ctx.height)
            rotation = display_rotation(resolved)
            if rotation in (90, 270):
                width, height = height, width
            video_start = stream_start(video) or 0.0
            fps = stream_rate(video)
            duration = stream_duration(video, container)
            n_frames = int(video.frames or 0) or int(round(duration * fps))
            if duration <= 0 and n_frames and fps:
                duration = float(n_frames / fps)
            video_codec = ctx.name
        audio_rate = audio_channels = 0
        audio_codec = None
        if audio is not None:
            audio_rate = int(audio.rate or 0)
            audio_channels = int(audio.channels or 0)
            audio_codec = audio.codec_context.name
            audio_start = stream_start(audio) or 0.0
            if video is None:
                duration = stream_duration(audio, container)
        return MediaInfo(
            path=resolved,
            container=container.format.name,
            has_video=video is not None,
            width=width,
            height=height,
            fps=float(fps),
            fps_fraction=(fps.numerator, fps.denominator),
            n_frames=n_frames,
            duration=duration,
            video_codec=video_codec,
            has_audio=audio is not None,
            audio_rate=audio_rate,
            audio_channels=audio_channels,
            audio_codec=audio_codec,
            video_start=video_start,
            audio_start=audio_start,
            rotation=rotation,
        )


def analysis_size(width: int, height: int, spec: str | int) -> tuple[int, int]:
    """The frame size used for analysis: even, never larger than the source.

    Parameters
    ----------
    width, height : int
        Source size in pixels.
    spec : "source" or int
        ``"source"`` keeps the source size; an int is the longest side in pixels.

    Returns
    -------
    (w, h) : tuple of int
        Both even (H.264 with yuv420p needs even sizes) and at least 2.

    Examples
    --------
    >>> analysis_size(1280, 720, 256)
    (256, 144)
    >>> analysis_size(320, 240, 1024)
    (320, 240)
    """
    if width <= 0 or height <= 0:
        raise MediaError(f"invalid frame size {width}x{height}", hint="the video stream reports no size")
    if isinstance(spec, str) and spec.strip().lower() == "source":
        scale = 1.0
    else:
        try:
            longest = int(spec)
        except (TypeError, ValueError):
            longest = 0
        if longest < 2 or isinstance(spec, bool):
            raise ManifestError(
                f"invalid analysis size {spec!r}",
                hint='use "source" or the longest side in pixels, e.g. 256',
            )
        scale = min(1.0, longest / max(width, height))

    def even(x: float, limit: int) -> int:
        return max(2, min(int(round(x / 2)) * 2, limit - limit % 2 or 2))

    return even(width * scale, width), even(height * scale, height)
