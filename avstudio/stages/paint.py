"""``paint``: the trained mapper paints a frame for every audio frame of the source.

Frames are committed in chunks outside the store while painting (see
:mod:`avstudio.render.resume`), so ``avstudio run`` after a Ctrl-C, a crash or
a lost SSH session continues from the first missing frame; the result equals
an uninterrupted run. When all frames are painted they go into the store.

Store
-----
``/paint/frames`` [shape=(n, h, w, 3), uint8], attrs ``fps``, ``checkpoint``,
``renderer``, ``resumed_from``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avstudio.pipeline.fingerprint import fingerprint
from avstudio.pipeline.stage import Stage, StageContext


def chosen_checkpoint(ws: Any) -> Any:
    """The checkpoint ``paint.checkpoint`` selects (reads JSON only)."""
    from avstudio.mapper.checkpoint import pick_checkpoint

    return pick_checkpoint(ws.layout.checkpoints, ws.manifest.get("paint.checkpoint"))


def load_for_manifest(ws: Any, info: Any) -> Any:
    """Load a checkpoint, refusing one trained on other encoders than the store's current ones."""
    from avstudio.mapper.checkpoint import load_checkpoint
    from avstudio.stages.train import read_embeddings

    data = read_embeddings(ws)
    return load_checkpoint(info.path, expect_audio=(data["audio"]["name"], data["audio"]["dim"]),
                           expect_image=(data["image"]["name"], data["image"]["dim"])), data


def output_size(ws: Any) -> tuple[int, int]:
    """``render.width``/``height``, or the analysis frame size where they are 0."""
    w, h = ws.manifest.get("render.width"), ws.manifest.get("render.height")
    with ws.store.read("extract") as ex:
        aw, ah = int(ex.attrs["width"]), int(ex.attrs["height"])
    if w and not h:
        h = int(round(w * ah / aw / 2)) * 2
    if h and not w:
        w = int(round(h * aw / ah / 2)) * 2
    return (w or aw, h or ah)


class PaintStage(Stage):
    """Audio of the source -> painted frames, with temporal logic."""

    name = "paint"
    VERSION = 1
    deps = ("features", "embed", "train")
    params = ("temporal.*", "render.backend", "render.width", "render.height", "render.crispness", "render.model",
              "render.ip_adapter", "render.ip_adapter_scale", "render.prompt", "render.negative_prompt",
              "render.steps", "render.guidance", "render.scheduler", "render.cut_strength", "render.seed", "render.dtype",
              "paint.*")
    description = "paint frames from the audio with the mapper"

    def inputs(self, ws: Any) -> dict[str, Any]:
        from avstudio.errors import ModelError

        try:
            info = chosen_checkpoint(ws)
        except ModelError:
            return {"checkpoint": None}
        return {"checkpoint": {"name": info.name, "created": info.created}}

    def run(self, ctx: StageContext) -> None:
        from avstudio.render.painter import make_renderer, paint, plan_painting
        from avstudio.render.resume import ChunkSpool
        from avstudio.workspace.store import append, chunked_dataset

        ws = ctx.ws
        info = chosen_checkpoint(ws)
        ckpt, data = load_for_manifest(ws, info)
        audio_emb = data["audio"]["emb"]
        with ws.store.read("features") as fg:
            onset = fg["audio/onset"][:] if "audio" in fg else np.zeros(len(audio_emb), np.float32)
        n = len(audio_emb)
        if ctx.param("paint.max_frames"):
            n = min(n, ctx.param("paint.max_frames"))
        size = output_size(ws)
        ctx.log(f"painting {n} frames at {size[0]}x{size[1]} with {info.name} ({ctx.param('render.backend')})")
        _, plans = plan_painting(ckpt, audio_emb[:n], onset[:n], ws.manifest.params["temporal"])
        ctx.log(f"temporal plan: {sum(p.cut for p in plans)} cuts, "
                f"{sum(1 for a, b in zip(plans, plans[1:]) if a.polarity != b.polarity)} polarity switches")
        renderer = make_renderer(ckpt, ws.manifest, size=size, cancel=ctx.cancel)
        spool = ChunkSpool(ws.layout.state_dir / "resume" / "paint", fingerprint(ws.parts(self.name)))
        resumed = paint(plans, renderer, chunk=ctx.param("render.chunk"), spool=spool, cancel=ctx.cancel,
                        progress=lambda d, t: ctx.progress(d, t), log=ctx.log)
        frames = chunked_dataset(ctx.out, "frames", (size[1], size[0], 3), np.uint8, rows=16)
        for block in spool.read(n):
            append(frames, block)
        with ws.store.read("extract") as ex:
            fps = float(ex.attrs["fps"])
        ctx.out.attrs.update(fps=fps, n_frames=n, checkpoint=info.name, renderer=renderer.name, resumed_from=resumed,
                             cuts=int(sum(p.cut for p in plans)))
        ctx.on_commit(spool.discard)


def audio_encoder_for(ckpt: Any, manifest: Any) -> Any:
    """The audio encoder a checkpoint was trained with, restored (fitted state included)."""
    from avstudio.encoders.registry import make_audio_encoder
    from avstudio.render.painter import checkpoint_state

    audio = ckpt.config["encoders"]["audio"]
    enc = manifest.params["encoders"]
    if audio["name"] == "builtin-audio":
        from avstudio.encoders.builtin_audio import BuiltinAudioEncoder

        return BuiltinAudioEncoder.from_state(checkpoint_state(ckpt, "audio"), audio["config"])
    options = {k: audio["config"][k] for k in ("window_seconds", "embed_hop_seconds") if k in audio["config"]}
    return make_audio_encoder(audio["name"], device=enc["device"], batch_size=enc["batch_size"],
                              base_dir=str(manifest.path.parent), **options)


def paint_audio_file(ws: Any, audio_path: Any, *, checkpoint: str | None, out: Any, max_frames: int | None,
                     on_event: Any, cancel: Any) -> dict[str, Any]:
    """Paint a video for a new audio file (``avstudio paint --audio``).

    The audio is resampled to the checkpoint's encoder rate (so any sample rate
    works); the video has the checkpoint's frame rate and the audio's length.
    """
    from avstudio.errors import MediaError
    from avstudio.features.audio import audio_features
    from avstudio.mapper.checkpoint import load_checkpoint, pick_checkpoint
    from avstudio.media.audio import read_audio, resample
    from avstudio.media.encode import VideoWriter
    from avstudio.pipeline.events import Log, Progress
    from avstudio.pipeline.fingerprint import file_identity
    from avstudio.render.painter import make_renderer, paint, plan_painting
    from avstudio.render.resume import ChunkSpool
    from avstudio.stages.assemble import check_writable
    from avstudio.stages.embed import embed_audio

    def log(msg: str) -> None:
        on_event(Log(stage="paint", message=msg))

    info = pick_checkpoint(ws.layout.checkpoints, checkpoint or ws.manifest.get("paint.checkpoint"))
    ckpt = load_checkpoint(info.path)
    if not audio_path.exists():
        raise MediaError(f"audio file not found: {audio_path}", hint="check the path passed to --audio")
    track = read_audio(audio_path)
    if track is None:
        raise MediaError(f"{audio_path} has no audio stream", hint="pass an audio file or a video with sound")
    if not track.samples.size or float(np.abs(track.samples).max()) == 0.0:
        raise MediaError(f"{audio_path} is silent", hint="the painter follows the sound; use a file with audible audio")
    encoder = audio_encoder_for(ckpt, ws.manifest)
    duration = len(track.samples) / track.sr
    if duration < encoder.window_seconds:
        raise MediaError(f"{audio_path} lasts {duration:.2f} s, shorter than one {encoder.window_seconds:g} s window",
                         hint="use a longer file, or train with a smaller encoders.window_seconds")
    fps = float(ckpt.config["fps"])
    n = int(round(duration * fps))
    if max_frames:
        n = min(n, max_frames)
    size = output_size(ws)
    renderer = make_renderer(ckpt, ws.manifest, size=size, cancel=cancel)  # checks sizes before embedding
    if track.sr != encoder.sample_rate:
        log(f"resampling {track.sr} Hz -> {encoder.sample_rate} Hz for {encoder.name}")
    samples = resample(track.samples, track.sr, encoder.sample_rate)
    emb = embed_audio(encoder, samples, encoder.sample_rate, fps=fps, n_frames=n, n_fit=None, cancel=cancel)
    onset = audio_features(track.samples, track.sr, fps=fps, n_frames=n)["onset"]
    _, plans = plan_painting(ckpt, emb, onset, ws.manifest.params["temporal"])
    key = fingerprint({"audio": file_identity(audio_path), "checkpoint": info.name, "n": n,
                       "params": ws.stage_params(PaintStage())})
    spool = ChunkSpool(ws.layout.state_dir / "resume" / "paint-audio", key)
    log(f"painting {n} frames ({n / fps:.3f} s) at {size[0]}x{size[1]} with {info.name}")
    paint(plans, renderer, chunk=ws.manifest.get("render.chunk"), spool=spool, cancel=cancel,
          progress=lambda d, t: on_event(Progress(stage="paint", done=d, total=t)), log=log)
    check_writable(out.parent)
    audio_out = track.samples[: int(round(n / fps * track.sr))]
    with VideoWriter(out, fps=fps, size=size, crf=ws.manifest.get("output.crf"), audio=audio_out,
                     audio_sr=track.sr) as writer:
        for block in spool.read(n):
            writer.write(block)
    spool.discard()
    return {"out": str(out), "frames": n, "duration": n / fps, "checkpoint": info.name}
