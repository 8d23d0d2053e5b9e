"""Decode video frames in chunks, optionally resampled in time and space.

Decoding runs in a background thread that fills chunk buffers ahead of the
consumer (FFmpeg's decoder threads and ``sws_scale`` release the GIL, and so do
the cv2 calls the consumer usually makes), so decode and analysis overlap on
two cores. Scaling and the RGB conversion happen in one ``sws_scale`` call
straight from the decoder's YUV planes: no full-size RGB copy is made when
downscaling.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avstudio.cancel import NEVER, CancelToken
from avstudio.errors import MediaError
from avstudio.media.probe import open_input, stream_duration, stream_rate

MAX_CHUNK_BYTES = 64 << 20
"""Default cap on the size of one chunk: 256 frames of 320x240, 16 of 1280x720."""

_FIRST_CHUNK = 32
"""Length of the first chunk; later ones double up to ``chunk``."""

_END = object()


class _Warning(str):
    """A warning travelling through the chunk queue."""


@dataclass
class DecodeStats:
    """What :func:`iter_frames` learnt about a video's timing while decoding it.

    Attributes
    ----------
    start : float
        Presentation time of the first frame on the container's clock (seconds); it is time 0
        of the yielded frames.
    n_decoded : int
        Source frames decoded.
    variable_rate : bool
        The source's frame intervals vary: the longest exceeds the shortest by more than half
        the median interval (phones and screen recorders write such files).
    rotation : int
        Counterclockwise degrees the decoded pictures were turned to stand upright.
    """

    start: float = 0.0
    n_decoded: int = 0
    variable_rate: bool = False
    rotation: int = 0
    intervals: list[float] = field(default_factory=list, repr=False)

    def finish(self) -> None:
        """Decide ``variable_rate`` from the collected intervals."""
        steps = np.asarray(self.intervals, float)
        steps = steps[steps > 0]
        if len(steps) >= 2:
            self.variable_rate = bool(steps.max() - steps.min() > 0.5 * float(np.median(steps)))


def bare_decode_count(path: str | os.PathLike[str]) -> int:
    """Decode every frame to an rgb24 array at source size; the benchmark reference.

    This is the baseline that ``bench/`` compares the extract and feature
    stages against: plain PyAV with the same threaded decoding that
    :func:`iter_frames` uses (``thread_type="AUTO"``), one ``to_ndarray`` per
    frame, nothing else.

    Returns
    -------
    int
        The number of frames decoded.
    """
    with open_input(path) as container:
        if not container.streams.video:
            raise MediaError(f"no video stream in {path}", hint="pass a video file")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        count = 0
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            count += 1
        return count


def iter_frames(
    path: str | os.PathLike[str],
    *,
    fps: float | None = None,
    size: tuple[int, int] | None = None,
    chunk: int = 256,
    cancel: CancelToken = NEVER,
    on_warning: Callable[[str], None] | None = None,
    prefetch: int = 1,
    max_chunk_bytes: int = MAX_CHUNK_BYTES,
    stats: DecodeStats | None = None,
) -> Iterator[np.ndarray]:
    """Yield the RGB frames of a video in chunks.

    Parameters
    ----------
    path : str or PathLike
        The video file.
    fps : float, optional
        ``None`` yields every decoded frame. A rate resamples to a constant
        rate by presentation timestamps, so a variable-frame-rate file keeps
        its events at their times: the first frame is time 0, and output
        frame ``k`` (time ``k / fps``) is the latest source frame whose time
        is ``<= k / fps`` plus half a source frame (at its average rate). The stream's own
        duration gives ``round(duration * fps)`` frames; without one, frames
        run to the end of the last source frame.
    size : (w, h), optional
        Output size of the upright picture; scaling happens inside ffmpeg
        (area averaging when shrinking, bilinear when growing). ``None`` keeps
        the source size. Pictures with a display rotation (phone clips) are
        turned upright.
    chunk : int
        Frames per yielded array, at most. The first chunks are shorter
        (32, 64, ... doubling up to ``chunk``) so that the consumer starts
        sooner, the last one may be shorter, and all are shorter when
        ``chunk`` frames would exceed ``max_chunk_bytes``.
    cancel : CancelToken
        Checked once per chunk.
    on_warning : callable, optional
        Receives a one-line message when the file is truncated or corrupt and
        only a prefix could be decoded.
    prefetch : int
        Chunks decoded ahead of the consumer. Peak memory is about
        ``(prefetch + 3) * chunk * h * w * 3`` bytes (the chunk the consumer
        holds, the previous one it may still refer to, the queued ones and
        the one being filled); the buffers are recycled, not reallocated.
    max_chunk_bytes : int
        Caps the chunk length so that one chunk of large frames stays within
        this many bytes (at least one frame per chunk).
    stats : DecodeStats, optional
        Filled in while decoding: start time, frame count, variable rate, rotation.

    Yields
    ------
    frames : np.ndarray [shape=(n, h, w, 3), uint8]
        RGB frames, ``1 <= n <= chunk``. A chunk's memory is reused for a
        later chunk only after every reference to it (views included) is gone,
        so keeping chunks is safe.

    Raises
    ------
    MediaError
        The file is missing or not media, has no video stream, no frames, or
        nothing in it decodes.
    Cancelled
        ``cancel`` was triggered.
    """
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    if fps is not None and not fps > 0:
        raise ValueError("fps must be > 0")
    items: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                if cancel.cancelled:
                    return False
        return False

    def work() -> None:
        try:
            _decode_chunks(
                path,
                fps=fps,
                size=size,
                chunk=chunk,
                max_chunk_bytes=max_chunk_bytes,
                prefetch=prefetch,
                put=put,
                stop=stop,
                cancel=cancel,
                stats=stats if stats is not None else DecodeStats(),
            )
        except BaseException as exc:  # handed to the consumer, re-raised there
            put(exc)
        else:
            put(_END)

    thread = threading.Thread(target=work, name="avstudio-decode", daemon=True)
    thread.start()
    try:
        while True:
            cancel.check()
            try:
                item = items.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, _Warning):
                if on_warning is not None:
                    on_warning(str(item))
                continue
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


class _BufferPool:
    """Chunk buffers recycled once nobody but the pool refers to them.

    Fresh memory is expensive to touch (a page fault per 4 KiB, several
    milliseconds per HD frame on some VMs), so the decode thread writes into
    buffers it handed out before, but only when the consumer has dropped
    every reference to them, views included (a view holds its base). A
    consumer that keeps every chunk therefore never sees one overwritten.
    """

    def __init__(self, shape: tuple[int, ...], *, keep: int) -> None:
        self.shape = shape
        self.keep = keep
        self.buffers: list[np.ndarray] = []

    def get(self) -> np.ndarray:
        import sys

        for buf in self.buffers:
            # References: the list, the loop variable and getrefcount's argument.
            if sys.getrefcount(buf) <= 3:
                return buf
        buf = np.empty(self.shape, np.uint8)
        self.buffers.append(buf)
        if len(self.buffers) > self.keep:
            del self.buffers[0]
        return buf


def _decode_chunks(path, *, fps, size, chunk, max_chunk_bytes, prefetch, put, stop, cancel, stats) -> None:
    """The decode thread: fill chunk buffers and hand them to ``put``."""
    import av
    from av.video.reformatter import VideoReformatter

    from avstudio.media.probe import display_rotation

    name = Path(path).name
    with open_input(path) as container:
        if not container.streams.video:
            raise MediaError(f"no video stream in {name}", hint="pass a video file, not an audio file")
        stream = container.streams.video[0]
        turns = display_rotation(path) // 90
        stats.rotation = 90 * turns
        stream.thread_type = "AUTO"
        ctx = stream.codec_context
        src_w, src_h = int(ctx.width), int(ctx.height)
        if turns % 2:
            src_w, src_h = src_h, src_w
        out_w, out_h = size if size is not None else (src_w, src_h)
        # Scale in the recorded orientation, then turn the picture upright.
        scale_w, scale_h = (out_h, out_w) if turns % 2 else (out_w, out_h)
        src_rate = stream_rate(stream)
        src_dt = float(1 / src_rate) if src_rate else 0.0
        own_duration = stream.duration is not None and stream.duration > 0
        duration = stream_duration(stream, container)
        expected = int(stream.frames or 0)
        shrink = out_w * out_h < src_w * src_h
        reformat_args = dict(
            width=scale_w,
            height=scale_h,
            format="rgb24",
            interpolation="AREA" if shrink else "BILINEAR",
        )
        if ctx.color_range == 2:  # AVCOL_RANGE_JPEG: full-range YUV
            reformat_args["src_color_range"] = 2
            reformat_args["dst_color_range"] = 2
        reformatter = VideoReformatter()
        row_bytes = scale_w * 3
        fit = max_chunk_bytes // (row_bytes * scale_h)
        if fit < chunk:
            # Keep capped chunks a multiple of 16 frames when possible, so
            # appends stay aligned with a store's 16-frame HDF5 chunks.
            chunk = max(1, fit - fit % 16 if fit >= 16 else fit)

        pool = _BufferPool((chunk, out_h, out_w, 3), keep=prefetch + 3)
        buf = pool.get()
        filled = 0
        # The consumer idles until the first chunk is full: start small and
        # double up to ``chunk`` so that decoding and analysis overlap sooner.
        target = min(chunk, _FIRST_CHUNK)
        last_frame = None  # the av frame most recently written, and where
        last_row: np.ndarray | None = None

        def emit(frame) -> bool:
            nonlocal buf, filled, target, last_frame, last_row
            row = buf[filled]
            if frame is last_frame and last_row is not None:
                row[...] = last_row
            else:
                rgb = reformatter.reformat(frame, **reformat_args)
                plane = rgb.planes[0]
                flat = np.frombuffer(plane, np.uint8)
                if plane.line_size != row_bytes:
                    flat = flat.reshape(-1, plane.line_size)[:scale_h, :row_bytes]
                picture = flat.reshape(scale_h, scale_w, 3)
                row[...] = np.rot90(picture, turns) if turns else picture
                last_frame = frame
            last_row = row
            filled += 1
            if filled == target:
                if not put(buf if target == chunk else buf[:target]):
                    return False
                buf = pool.get()
                filled = 0
                target = min(chunk, 2 * target)
            return True

        n_decoded = 0
        n_out = 0
        problem = None
        t0 = None
        half = 0.5 * src_dt
        n_target = int(round(duration * fps)) if fps is not None and own_duration else None
        prev = None
        prev_t = 0.0
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:
                    problem = problem or f"decode error ({exc.strerror or exc})"
                    continue
                for frame in frames:
                    if fps is None:
                        n_decoded += 1
                        if not emit(frame):
                            return
                        continue
                    t = frame.time if frame.time is not None else n_decoded * src_dt
                    if t0 is None:
                        t0 = stats.start = t
                    t -= t0
                    if n_decoded:
                        stats.intervals.append(t - prev_t)
                    n_decoded += 1
                    stats.n_decoded = n_decoded
                    while (n_target is None or n_out < n_target) and n_out / fps + half < t:
                        if not emit(prev if prev is not None else frame):
                            return
                        n_out += 1
                    prev, prev_t = frame, t
                if stop.is_set() or cancel.cancelled:
                    return
        except av.error.FFmpegError as exc:
            problem = f"read error ({exc.strerror or exc})"

        stats.n_decoded = n_decoded
        stats.finish()
        if n_decoded == 0:
            if expected == 0 and problem is None:
                raise MediaError(f"video has no frames: {name}", hint="re-export the video; it holds no frames")
            raise MediaError(
                f"no frames could be decoded from {name}",
                hint="the file is corrupt or truncated; re-export or re-download it",
            )
        if expected and n_decoded < expected:
            problem = problem or "file ended early"
            warning = f"{name}: decoded {n_decoded} of {expected} frames ({problem}); the file looks truncated or corrupt"
        elif problem is not None:
            warning = f"{name}: {problem} after {n_decoded} frames; the file may be corrupt"
        else:
            warning = None

        if fps is not None and prev is not None:
            # Hold the last frame for the rest of the duration; for a damaged
            # file only up to the end of its last decoded frame.
            end = prev_t + src_dt if (warning is not None or n_target is None) else float("inf")
            while (n_target is None or n_out < n_target) and n_out / fps < end:
                if not emit(prev):
                    return
                n_out += 1
        if filled and not put(buf[:filled]):
            return
        if warning is not None:
            put(_Warning(warning))
