"""``assemble``: write the user-facing files in ``outputs/``.

Two variants share the stage name: the sonify pipeline muxes the original
video with the generated audio; the blind-painter pipeline encodes the painted
frames with the source audio.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from avstudio.media.encode import check_writable
from avstudio.pipeline.fingerprint import file_identity
from avstudio.pipeline.stage import Stage, StageContext


class AssembleSonifiedStage(Stage):
    """``outputs/sonified.wav`` and ``outputs/sonified.mp4`` (original video + generated audio)."""

    name = "assemble"
    VERSION = 1
    deps = ("sonify",)
    params = ("output.*",)
    description = "write outputs/sonified.wav and outputs/sonified.mp4"

    def inputs(self, ws: Any) -> dict[str, Any]:
        return {"source video": file_identity(ws.manifest.media_path())}

    def outputs(self, ws: Any) -> list[Path]:
        return [ws.layout.outputs / "sonified.wav", ws.layout.outputs / "sonified.mp4"]

    def run(self, ctx: StageContext) -> None:
        from avstudio.media.encode import mux_audio, write_wav

        wav, mp4 = self.outputs(ctx.ws)
        check_writable(wav)
        with ctx.ws.store.read("sonify") as sg:
            samples = sg["samples"][:]
            sr = int(sg.attrs["sample_rate"])
        write_wav(wav, samples, sr, subtype=ctx.param("output.wav_subtype"))
        ctx.progress(1, 2, unit="files", force=True)
        video = mux_audio(ctx.ws.manifest.media_path(), samples, sr, mp4, crf=ctx.param("output.crf"))
        ctx.progress(2, 2, unit="files", force=True)
        if video == "re-encoded":
            ctx.log("the source's video codec is not one every MP4 player reads: re-encoded it to H.264")
        ctx.out.attrs.update(wav=str(wav), mp4=str(mp4), duration=len(samples) / sr)
        ctx.log(f"wrote {wav.relative_to(ctx.ws.root)} ({len(samples) / sr:.3f} s) and {mp4.relative_to(ctx.ws.root)}")


class AssemblePaintedStage(Stage):
    """``outputs/painted.mp4``: the painted frames with the source audio."""

    name = "assemble"
    VERSION = 1
    deps = ("extract", "paint")
    params = ("output.crf",)
    description = "write outputs/painted.mp4"

    def outputs(self, ws: Any) -> list[Path]:
        return [ws.layout.outputs / "painted.mp4"]

    def run(self, ctx: StageContext) -> None:
        from avstudio.media.encode import VideoWriter

        (mp4,) = self.outputs(ctx.ws)
        check_writable(mp4)
        with ctx.ws.store.read("extract") as ex:
            audio = ex["audio"]
            sr = int(audio.attrs["sample_rate"])
            samples = audio[:] if sr else None
        with ctx.ws.store.read("paint") as pg:
            frames = pg["frames"]
            n, h, w = frames.shape[:3]
            fps = float(pg.attrs["fps"])
            if samples is not None:
                samples = samples[: int(round(n / fps * sr))]
            with VideoWriter(mp4, fps=fps, size=(w, h), crf=ctx.param("output.crf"), audio=samples,
                             audio_sr=sr or None) as writer:
                for start in range(0, n, 64):
                    writer.write(frames[start:start + 64])
                    ctx.progress(min(start + 64, n), n)
        ctx.out.attrs.update(mp4=str(mp4), duration=n / fps)
        ctx.log(f"wrote {mp4.relative_to(ctx.ws.root)} ({n} frames, {n / fps:.3f} s)")
