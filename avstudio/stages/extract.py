"""``extract``: decode the video (streaming, in chunks) into frames and audio in the store."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from avstudio.errors import MediaError
from avstudio.pipeline.fingerprint import file_identity
from avstudio.pipeline.stage import Stage, StageContext


class Float32File:
    """A raw float32 file read by slices, like a 1-D array, without mapping it into memory."""

    ndim = 1

    def __init__(self, path: Any) -> None:
        self.path = path
        self.shape = (path.stat().st_size // 4,)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop, _ = key.indices(len(self))
        with open(self.path, "rb") as f:
            return np.fromfile(f, np.float32, count=max(0, stop - start), offset=4 * start)


class AudioHops:
    """Decode the audio track into the store first, then compute its hop-grid features
    (``avstudio.features.audio.hop_features``) in a worker thread while the frames decode.

    The samples go through a temporary raw file the worker reads block by
    block (a memmap would keep every touched page resident); ``/extract/audio_hops`` holds rms, onset and centroid on
    the hop grid, which ``features`` samples at the frame times.
    """

    def __init__(self, ctx: StageContext, path: Any, dataset: Any, *, start: float) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from avstudio.media.audio import iter_audio
        from avstudio.workspace.store import append

        self.sr = int(dataset.attrs["sample_rate"])
        self._mmap_path = ctx.ws.layout.tmp_dir / "extract-audio.f32"
        self._future: Any = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="audio-hops")
        if not self.sr:
            return
        with open(self._mmap_path, "wb") as raw:
            for block in iter_audio(path, start=start):
                ctx.cancel.check()
                append(dataset, block)
                raw.write(np.ascontiguousarray(block, np.float32).tobytes())
        if dataset.shape[0]:
            from avstudio.features.audio import hop_features

            self._future = self._pool.submit(hop_features, Float32File(self._mmap_path), self.sr)

    def __enter__(self) -> "AudioHops":
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._future = None
        self._mmap_path.unlink(missing_ok=True)

    def write(self, out: Any) -> None:
        if self._future is None:
            return
        hops = self._future.result()
        group = out.create_group("audio_hops")
        group.attrs.update(sr=hops["sr"], duration=hops["duration"], key=memo_key(None))
        for name in ("rms", "onset", "centroid"):
            if name in hops:
                group.create_dataset(name, data=hops[name])


class VisualMemo:
    """Visual features computed while the frames are in memory, for ``features`` to reuse.

    Reading every frame back from the store costs more than computing the
    features, so ``extract`` computes them on the fly with the *current*
    ``features.*`` params and stores them in ``/extract/visual_memo`` with
    those params. ``features`` uses them only when its params still match,
    and recomputes from the stored frames otherwise; both give identical
    values. The memo is not part of extract's fingerprint.
    """

    def __init__(self, ctx: StageContext, *, source_size: tuple[int, int]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from avstudio.stages.features import make_extractor

        self.key = memo_key(ctx.ws)
        self.extractor = make_extractor(ctx.ws, source_size)
        self.parts: dict[str, list[np.ndarray]] = {}
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="visual-memo")
        self._pending: Any = None

    def __enter__(self) -> "VisualMemo":
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, chunk: np.ndarray) -> None:
        """Queue a chunk (chunks are processed in order; the flow carries across them)."""
        self._wait()
        self._pending = self._pool.submit(self._update, chunk)

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def _update(self, chunk: np.ndarray) -> None:
        for key, arr in self.extractor.update(chunk).items():
            self.parts.setdefault(key, []).append(arr)

    def write(self, out: Any) -> None:
        self._wait()
        group = out.create_group("visual_memo")
        group.attrs["key"] = self.key
        for key, arrs in self.parts.items():
            group.create_dataset(key, data=np.concatenate(arrs).astype(np.float32))


def memo_key(ws: Any) -> str:
    """What the features computed during extract depend on besides the media: the features stage's
    version and (for the visual ones, ``ws`` given) its params."""
    from avstudio.pipeline.fingerprint import canonical
    from avstudio.stages.features import FeaturesStage

    params = {} if ws is None else {k: v for k, v in ws.stage_params(FeaturesStage()).items() if k != "features.audio"}
    return canonical({"version": FeaturesStage.VERSION, "params": params})


class ExtractStage(Stage):
    """Frames (uint8 RGB at the analysis fps and size) and the mono audio track.

    Store
    -----
    ``/extract/frames`` [shape=(n, h, w, 3), uint8], attrs ``fps``, ``n_frames``,
    ``duration`` (= n_frames / fps exactly), ``width``, ``height``, ``source_*``.
    ``/extract/audio`` [shape=(samples,), float32] mono mix, attrs ``sample_rate``,
    ``channels`` (of the source; 0 when the video has no audio stream).

    Time 0 is the first video frame. Frames are sampled on a constant grid by
    their presentation times (``"source"`` is the stream's average rate), so a
    variable-frame-rate file keeps its events in place; the audio is cut or
    padded with silence to start with the picture. The group records
    ``source_start`` (the first frame's time on the file's clock),
    ``audio_offset`` (seconds the audio track started after the picture),
    ``variable_rate`` and ``rotation`` (degrees the pictures were turned upright).
    """

    name = "extract"
    VERSION = 2
    deps = ()
    params = ("media.video", "analysis.fps", "analysis.size")
    description = "decode frames and audio into the store"

    def inputs(self, ws: Any) -> dict[str, Any]:
        return {"source video": file_identity(ws.manifest.media_path())}

    def run(self, ctx: StageContext) -> None:
        from avstudio.media.decode import DecodeStats, iter_frames
        from avstudio.media.probe import analysis_size, probe, still_image_error
        from avstudio.workspace.store import append, chunked_dataset

        path = ctx.ws.manifest.media_path()
        info = probe(path)
        if not info.has_video:
            raise MediaError(f"{path} has no video stream", hint="media.video must be a video file")
        if info.is_still:
            raise still_image_error(path)
        w, h = analysis_size(info.width, info.height, ctx.param("analysis.size"))
        fps_param = ctx.param("analysis.fps")
        fps = info.fps if fps_param == "source" else float(fps_param)
        if not fps > 0:
            raise MediaError(f"{path.name} does not say its frame rate",
                             hint='set analysis.fps to a rate such as 25 in avstudio.toml')
        expected = info.n_frames if fps_param == "source" else round(info.duration * fps)
        ctx.log(f"{path.name}: {info.width}x{info.height} @ {info.fps:.3f} fps, {info.duration:.2f} s -> {w}x{h} @ {fps:.3f} fps")

        audio = chunked_dataset(ctx.out, "audio", (), np.float32, rows=65536, compression=None)
        channels = info.audio_channels if info.has_audio else 0
        sr = info.audio_rate if info.has_audio else 0
        audio.attrs.update(sample_rate=int(sr), channels=int(channels))
        frames = chunked_dataset(ctx.out, "frames", (h, w, 3), np.uint8, rows=16)
        n = 0
        stats = DecodeStats()
        with AudioHops(ctx, path, audio, start=info.video_start) as hops, \
                VisualMemo(ctx, source_size=(info.width, info.height)) as memo:
            for chunk in iter_frames(
                path, fps=fps, size=(w, h), chunk=ctx.param("analysis.chunk"), cancel=ctx.cancel,
                on_warning=ctx.warn, stats=stats,
            ):
                memo.submit(chunk)  # features in a worker thread while this one writes the chunk
                append(frames, chunk)
                n += len(chunk)
                ctx.progress(n, max(expected, n))
            if n == 0:
                raise MediaError(f"no frames could be decoded from {path}", hint="check the file plays, or re-encode it")
            if stats.n_decoded < 2:
                raise still_image_error(path)
            ctx.progress(n, n, force=True)
            memo.write(ctx.out)
            hops.write(ctx.out)

        ctx.out.attrs.update(
            fps=float(fps), n_frames=int(n), duration=n / float(fps), width=int(w), height=int(h),
            source_path=str(path), source_width=int(info.width), source_height=int(info.height),
            source_fps=float(info.fps), source_duration=float(info.duration),
            source_metadata=json.dumps(info.to_json()), has_audio=bool(info.has_audio),
            source_start=float(stats.start), audio_offset=float(info.audio_offset),
            variable_rate=bool(stats.variable_rate), rotation=int(stats.rotation),
        )
        if stats.variable_rate:
            ctx.log(f"{path.name} has a variable frame rate: frames are sampled by their timestamps at {fps:.3f} fps")
        if abs(info.audio_offset) > 0.5 / fps:
            side = "after" if info.audio_offset > 0 else "before"
            ctx.log(f"the audio track starts {abs(info.audio_offset):.3f} s {side} the picture; "
                    + ("padded with silence" if info.audio_offset > 0 else "cut") + " to start with it")
        ctx.log(f"{n} frames ({n / fps:.3f} s), audio: "
                + (f"{audio.shape[0] / sr:.3f} s at {sr} Hz, {channels} ch" if sr else "none"))
