"""``train``: fit a painter (mapper, polarity head, frame library) and save it as a checkpoint folder.

Every run keeps its folder; exactly one checkpoint is marked best: the lowest
validation loss among those trained on the current data. Evaluation is the
``evaluate`` stage's job, so render settings never retrain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from avstudio.pipeline.fingerprint import fingerprint
from avstudio.pipeline.stage import Stage, StageContext


class TrainStage(Stage):
    """Trains the painter on the training block; the validation block chooses."""

    name = "train"
    VERSION = 2
    deps = ("extract", "features", "embed")
    params = ("train.*", "encoders.context_seconds", "encoders.window_seconds")
    description = "train the painter (audio -> image mapper, polarity head, frame library)"

    def outputs(self, ws: Any) -> list[Path]:
        """The checkpoint folder the last run wrote (a deleted one makes the stage ``missing``)."""
        if not ws.store.has(self.name):
            return []
        with ws.store.read(self.name) as g:
            return [Path(str(g.attrs["path"]))] if "path" in g.attrs else []

    def run(self, ctx: StageContext) -> None:
        import torch

        from avstudio.mapper.checkpoint import mark_best, new_checkpoint_name
        from avstudio.mapper.train import TrainConfig
        from avstudio.painter.bundle import fit_painter
        from avstudio.painter.data import read_embeddings
        from avstudio.painter.split import split_for

        torch.set_num_threads(1)  # the mapper's matrices are tiny: one thread beats two (6x on 2 busy cores)
        ws = ctx.ws
        data = read_embeddings(ws)
        with ws.store.read("features") as fg:
            brightness = fg["brightness"][:]
        with ws.store.read("extract") as ex:
            frame_shape = tuple(int(v) for v in ex["frames"].shape[1:3])
        config = TrainConfig.from_dict(ws.manifest.params["train"])
        split = split_for(data["n"], fps=data["fps"], train=ws.manifest.params["train"],
                          window_seconds=ctx.param("encoders.window_seconds"))
        config.gap_frames = split.gap
        ctx.log(f"training on frames {split.train[0]}..{split.train[1] - 1}, validation {split.val[0]}..{split.val[1] - 1}, "
                f"test (never seen) {split.test[0]}..{split.test[1] - 1} of {split.n}")
        data_fp = fingerprint(ws.parts("embed"))
        painter = fit_painter(
            data, brightness=brightness, split=split, train_config=config,
            context_seconds=ctx.param("encoders.context_seconds"),
            fingerprints={"data": data_fp, "extract": fingerprint(ws.parts("extract"))}, frame_shape=frame_shape,
            on_epoch=lambda epoch, total, train_loss, val_loss: ctx.progress(
                epoch, total, unit="epochs", metrics={"train_loss": train_loss, "val_loss": val_loss}),
            cancel=ctx.cancel, log=ctx.log)
        name = new_checkpoint_name(ws.layout.checkpoints)
        path = painter.save(ws.layout.checkpoints, name)
        best = mark_best(ws.layout.checkpoints, data_fingerprint=data_fp)
        ctx.out.attrs.update(checkpoint=name, path=str(path), best=best or "")
        ctx.log(f"saved checkpoint {name}; best on validation: {best}"
                + (" (this one)" if best == name else f" (validation loss {painter.config['selection_loss']:.4f} "
                                                      "is not lower)"))
