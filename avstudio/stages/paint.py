"""``paint``: the painter paints a frame for every audio frame of the source.

Frames are committed in chunks outside the store while painting (see
:mod:`avstudio.render.resume`), so ``avstudio run`` after a Ctrl-C, a crash or
a lost SSH session continues from the first missing frame; the result equals
an uninterrupted run. When all frames are painted they go into the store.

Store
-----
``/paint/frames`` [shape=(n, h, w, 3), uint8], attrs ``fps``, ``checkpoint``,
``renderer``, ``resumed_from`` (frames already painted when the run started), ``cuts``,
``polarity_switches``, ``segments``.

With ``render.backend = "sd15"`` the frames are painted segment by segment
(:mod:`avstudio.render.segments`): ``render.batch`` segments side by side,
and with ``render.devices`` on one torchrun worker per device
(:mod:`avstudio.render.workers`). Neither changes a pixel.
"""

from __future__ import annotations

from typing import Any

from avstudio.pipeline.fingerprint import fingerprint
from avstudio.pipeline.stage import Stage, StageContext

RENDER_PARAMS = ("temporal.*", "render.backend", "render.width", "render.height", "render.crispness", "render.model",
                 "render.ip_adapter", "render.ip_adapter_scale", "render.prompt", "render.negative_prompt",
                 "render.steps", "render.guidance", "render.scheduler", "render.cut_strength", "render.seed",
                 "render.dtype", "render.max_segment_seconds", "render.lora", "render.lora_scale", "paint.checkpoint")
"""Manifest keys that change painted pixels (``paint`` and ``evaluate`` read them). ``render.batch``,
``render.devices`` and ``render.device`` change only the speed: the frames are the same."""


def chosen_checkpoint(ws: Any) -> Any:
    """The checkpoint ``paint.checkpoint`` selects (reads JSON only)."""
    from avstudio.mapper.checkpoint import pick_checkpoint

    return pick_checkpoint(ws.layout.checkpoints, ws.manifest.get("paint.checkpoint"))


def checkpoint_inputs(ws: Any) -> dict[str, Any]:
    """The chosen checkpoint's identity, for the fingerprint of stages that paint."""
    from avstudio.errors import ModelError

    try:
        info = chosen_checkpoint(ws)
    except ModelError:
        return {"checkpoint": None}
    return {"checkpoint": {"name": info.name, "created": info.created}}


def load_painter(ws: Any) -> Any:
    """The chosen painter, refused when trained on other encoders than the manifest's."""
    from avstudio.painter.bundle import Painter
    from avstudio.painter.data import read_embeddings

    painter = Painter.load(chosen_checkpoint(ws).path)
    data = read_embeddings(ws)
    painter.check_encoders((data["audio"]["name"], data["audio"]["dim"]), (data["image"]["name"], data["image"]["dim"]))
    return painter, data


class PaintStage(Stage):
    """Audio of the source -> painted frames, with temporal logic."""

    name = "paint"
    VERSION = 2
    deps = ("features", "embed", "train")
    params = RENDER_PARAMS + ("paint.max_frames",)
    description = "paint frames from the audio with the painter"

    def inputs(self, ws: Any) -> dict[str, Any]:
        return checkpoint_inputs(ws)

    def run(self, ctx: StageContext) -> None:
        import numpy as np

        from avstudio.painter.data import onsets, output_size
        from avstudio.render.painter import paint
        from avstudio.render.resume import ChunkSpool
        from avstudio.render.segments import split
        from avstudio.models.launch import resolve_devices
        from avstudio.render.workers import paint_on_devices
        from avstudio.workspace.store import append, chunked_dataset

        ws = ctx.ws
        painter, data = load_painter(ws)
        n = data["n"]
        if ctx.param("paint.max_frames"):
            n = min(n, ctx.param("paint.max_frames"))
        size = output_size(ws)
        render = ws.manifest.params["render"]
        ctx.log(f"painting {n} frames at {size[0]}x{size[1]} with {painter.name} ({render['backend']})")
        plans = painter.plan(data["audio"]["emb"], onsets(ws, data["n"]), temporal=ws.manifest.params["temporal"],
                             backend=render["backend"], stop=n, max_segment_seconds=render["max_segment_seconds"])
        switches = sum(1 for a, b in zip(plans, plans[1:]) if a.polarity != b.polarity)
        segments = len(split(plans))
        ctx.log(f"temporal plan: {sum(p.cut for p in plans)} cuts, {switches} polarity switches, {segments} segments")
        spool = ChunkSpool(ws.layout.state_dir / "resume" / "paint", fingerprint(ws.parts(self.name)),
                           frame_shape=(size[1], size[0], 3), fresh=ctx.force)  # --force paints from the start
        devices = resolve_devices(render["devices"]) if render["backend"] == "sd15" else []
        with ws.store.read("extract") as ex:
            renderer = painter.renderer(render, size=size, frames=ex["frames"], base_dir=str(ws.manifest.path.parent),
                                        cancel=ctx.cancel)
            fps = float(ex.attrs["fps"])
            if devices:
                settings = painter.sd15_settings(render, size=size, base_dir=str(ws.manifest.path.parent))
                resumed = paint_on_devices(plans, spool, settings=settings, devices=devices, batch=render["batch"],
                                           chunk=ctx.param("render.chunk"), cancel=ctx.cancel,
                                           progress=lambda d, t: ctx.progress(d, t), log=ctx.log)
            else:
                resumed = paint(plans, renderer, chunk=ctx.param("render.chunk"), spool=spool, batch=render["batch"],
                                cancel=ctx.cancel, progress=lambda d, t: ctx.progress(d, t), log=ctx.log)
        frames = chunked_dataset(ctx.out, "frames", (size[1], size[0], 3), np.uint8, rows=16)
        for block in spool.read(n):
            append(frames, block)
        ctx.out.attrs.update(fps=fps, n_frames=n, checkpoint=painter.name, renderer=renderer.name, resumed_from=resumed,
                             cuts=int(sum(p.cut for p in plans)), polarity_switches=switches, segments=segments)
        ctx.on_commit(spool.discard)
