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
) -> Iterator[np.ndarray]:
    """Yield the RGB frames of a video in chunks.

    Parameters
    ----------
    path : str or PathLike
        The video file.
    fps : float, optional
        ``None`` yields every decoded frame. A rate resamples to a constant
        rate by timestamps: output frame ``k`` (time ``k / fps``) is the latest
        source frame whose time is ``<= k / fps`` plus half a source frame;
        ``round(duration * fps)`` frames are yielded.
    size : (w, h), optional
        Output size; scaling happens inside ffmpeg (area averaging when
        shrinking, bilinear when growing). ``None`` keeps the source size.
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


def _decode_chunks(path, *, fps, size, chunk, max_chunk_bytes, prefetch, put, stop, cancel) -> None:
    """The decode thread: fill chunk buffers and hand them to ``put``."""
    import av
    from av.video.reformatter import VideoReformatter

    name = Path(path).name
    with open_input(path) as container:
        if not container.streams.video:
            raise MediaError(f"no video stream in {name}", hint="pass a video file, not an audio file")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        ctx = stream.codec_context
        src_w, src_h = int(ctx.width), int(ctx.height)
        out_w, out_h = size if size is not None else (src_w, src_h)
        src_rate = stream_rate(stream)
        src_dt = float(1 / src_rate) if src_rate else 0.0
        duration = stream_duration(stream, container)
        expected = int(stream.frames or 0)
        shrink = out_w * out_h < src_w * src_h
        reformat_args = dict(
            width=out_w,
            height=out_h,
            format="rgb24",
            interpolation="AREA" if shrink else "BILINEAR",
        )
        if ctx.color_range == 2:  # AVCOL_RANGE_JPEG: full-range YUV
            reformat_args["src_color_range"] = 2
            reformat_args["dst_color_range"] = 2
        reformatter = VideoReformatter()
        row_bytes = out_w * 3
        fit = max_chunk_bytes // (row_bytes * out_h)
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
                    flat = flat.reshape(-1, plane.line_size)[:out_h, :row_bytes]
                row[...] = flat.reshape(out_h, out_w, 3)
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
        n_target = int(round(duration * fps)) if fps is not None and duration > 0 else None
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
                        t0 = t
                    t -= t0
                    n_decoded += 1
                    while (n_target is None or n_out < n_target) and n_out / fps + half < t:
                        if not emit(prev if prev is not None else frame):
                            return
                        n_out += 1
                    prev, prev_t = frame, t
                if stop.is_set() or cancel.cancelled:
                    return
        except av.error.FFmpegError as exc:
            problem = f"read error ({exc.strerror or exc})"

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
