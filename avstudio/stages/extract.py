"""``extract``: decode the video (streaming, in chunks) into frames and audio in the store."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from avstudio.errors import MediaError
from avstudio.pipeline.fingerprint import file_identity
from avstudio.pipeline.stage import Stage, StageContext


class ExtractStage(Stage):
    """Frames (uint8 RGB at the analysis fps and size) and the mono audio track.

    Store
    -----
    ``/extract/frames`` [shape=(n, h, w, 3), uint8], attrs ``fps``, ``n_frames``,
    ``duration`` (= n_frames / fps exactly), ``width``, ``height``, ``source_*``.
    ``/extract/audio`` [shape=(samples,), float32] mono mix, attrs ``sample_rate``,
    ``channels`` (of the source; 0 when the video has no audio stream).
    """

    name = "extract"
    VERSION = 1
    deps = ()
    params = ("media.video", "analysis.fps", "analysis.size")
    description = "decode frames and audio into the store"

    def inputs(self, ws: Any) -> dict[str, Any]:
        return {"source video": file_identity(ws.manifest.media_path())}

    def run(self, ctx: StageContext) -> None:
        from avstudio.media.audio import iter_audio
        from avstudio.media.decode import iter_frames
        from avstudio.media.probe import analysis_size, probe
        from avstudio.workspace.store import append, chunked_dataset

        path = ctx.ws.manifest.media_path()
        info = probe(path)
        if not info.has_video:
            raise MediaError(f"{path} has no video stream", hint="media.video must be a video file")
        w, h = analysis_size(info.width, info.height, ctx.param("analysis.size"))
        fps_param = ctx.param("analysis.fps")
        fps = info.fps if fps_param == "source" else float(fps_param)
        expected = info.n_frames if fps_param == "source" else round(info.duration * fps)
        ctx.log(f"{path.name}: {info.width}x{info.height} @ {info.fps:.3f} fps, {info.duration:.2f} s -> {w}x{h} @ {fps:.3f} fps")

        frames = chunked_dataset(ctx.out, "frames", (h, w, 3), np.uint8, rows=16)
        n = 0
        for chunk in iter_frames(
            path, fps=None if fps_param == "source" else fps, size=(w, h),
            chunk=ctx.param("analysis.chunk"), cancel=ctx.cancel, on_warning=ctx.warn,
        ):
            append(frames, chunk)
            n += len(chunk)
            ctx.progress(n, max(expected, n))
        if n == 0:
            raise MediaError(f"no frames could be decoded from {path}", hint="check the file plays, or re-encode it")
        ctx.progress(n, n, force=True)

        audio = chunked_dataset(ctx.out, "audio", (), np.float32, rows=65536, compression=None)
        channels = info.audio_channels if info.has_audio else 0
        sr = info.audio_rate if info.has_audio else 0
        if info.has_audio:
            for block in iter_audio(path):
                ctx.cancel.check()
                append(audio, block)
        audio.attrs.update(sample_rate=int(sr), channels=int(channels))

        ctx.out.attrs.update(
            fps=float(fps), n_frames=int(n), duration=n / float(fps), width=int(w), height=int(h),
            source_path=str(path), source_width=int(info.width), source_height=int(info.height),
            source_fps=float(info.fps), source_duration=float(info.duration),
            source_metadata=json.dumps(info.to_json()), has_audio=bool(info.has_audio),
        )
        ctx.log(f"{n} frames ({n / fps:.3f} s), audio: "
                + (f"{audio.shape[0] / sr:.3f} s at {sr} Hz, {channels} ch" if sr else "none"))
