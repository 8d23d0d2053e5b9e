"""``train``: fit the mapper (audio -> image embeddings), evaluate it on the held-out block,
and save a checkpoint folder. Every run keeps its checkpoint; several coexist."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from avstudio.pipeline.fingerprint import fingerprint
from avstudio.pipeline.stage import Stage, StageContext
from avstudio.stages.embed import group_key, load_state


def fit_brightness_probe(emb: np.ndarray, brightness: np.ndarray, *, ridge: float = 1e-3) -> np.ndarray:
    """Ridge regression from image embeddings to mean frame brightness.

    Returns
    -------
    np.ndarray [shape=(d + 1,), float32]
        Weights, last one the bias. Exact for linear codes such as PCA.
    """
    x = np.hstack([emb.astype(np.float64), np.ones((len(emb), 1))])
    reg = ridge * np.eye(x.shape[1])
    reg[-1, -1] = 0.0
    w = np.linalg.solve(x.T @ x + reg * len(x), x.T @ brightness.astype(np.float64))
    return w.astype(np.float32)


def apply_probe(w: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """Estimated brightness [shape=(n,)] of embeddings [shape=(n, d)]."""
    return np.clip(emb @ w[:-1] + w[-1], 0.0, 255.0).astype(np.float32)


def read_embeddings(ws: Any) -> dict[str, Any]:
    """The embeddings and fitted encoder states of the encoders the manifest names."""
    from avstudio.errors import StageError

    enc = ws.manifest.params["encoders"]
    out: dict[str, Any] = {}
    with ws.store.read("embed") as g:
        out["n_train"] = int(g.attrs["n_train"])
        out["fps"] = float(g.attrs["fps"])
        for kind in ("audio", "image"):
            groups = g[kind]
            wanted = [k for k in groups if groups[k].attrs["name"] == _encoder_name(kind, enc[kind], groups)]
            if not wanted:
                raise StageError(f"the store has no {kind} embeddings for encoder {enc[kind]!r}",
                                 hint="run `avstudio run embed`")
            grp = groups[wanted[0]]
            out[kind] = {"emb": grp["embeddings"][:], "name": str(grp.attrs["name"]), "dim": int(grp.attrs["dim"]),
                         "config": json.loads(grp.attrs["config"]), "state": load_state(grp)}
    return out


def _encoder_name(kind: str, spec: str, groups: Any) -> str:
    """The recorded name of the encoder ``spec`` (``builtin`` -> ``builtin-audio``)."""
    if spec == "builtin":
        return f"builtin-{kind}"
    key = group_key(spec)
    return str(groups[key].attrs["name"]) if key in groups else spec


class TrainStage(Stage):
    """Trains the mapper; the checkpoint holds everything ``paint`` needs."""

    name = "train"
    VERSION = 1
    deps = ("extract", "features", "embed")
    params = ("train.*", "encoders.context_seconds", "temporal.light_above", "temporal.dark_below", "render.crispness")
    description = "train the audio -> image mapper and evaluate it"

    def run(self, ctx: StageContext) -> None:
        import torch

        from avstudio.mapper.checkpoint import new_checkpoint_name, save_checkpoint
        from avstudio.mapper.train import TrainConfig, train_mapper

        # The mapper's matrices are tiny: one thread beats two (measured 6x on 2 busy cores).
        torch.set_num_threads(1)
        from avstudio.mapper.context import add_context

        data = read_embeddings(ctx.ws)
        context = ctx.param("encoders.context_seconds")
        a = data["inputs"] = add_context(data["audio"]["emb"], fps=data["fps"], seconds=context)
        i = data["image"]["emb"]
        with ctx.ws.store.read("features") as fg:
            brightness = fg["brightness"][:]
        config = TrainConfig.from_dict(ctx.ws.manifest.params["train"])
        window_frames = int(np.ceil(ctx.param("encoders.window_seconds") * data["fps"]))
        if config.gap_frames is None:
            config.gap_frames = window_frames
        ctx.log(f"training on {len(a)} frames: {a.shape[1]}-d audio (with {context:g} s context) -> {i.shape[1]}-d image, "
                f"held-out block = last {config.val_fraction:.0%}")

        def on_epoch(epoch: int, total: int, train_loss: float, val_loss: float) -> None:
            ctx.progress(epoch, total, unit="epochs")

        result = train_mapper(a, i, config=config, on_epoch=on_epoch, cancel=ctx.cancel)
        ctx.log(f"best epoch {result.best_epoch}: val loss {min(h['val_loss'] for h in result.history):.4f}")
        probe = fit_brightness_probe(i[result.train_idx], brightness[result.train_idx])
        from avstudio.evaluate.holdout import evaluate_holdout

        metrics = evaluate_holdout(ctx.ws, data, result, probe, log=ctx.log)
        name = new_checkpoint_name(ctx.ws.layout.checkpoints)
        from avstudio.render.painter import state_extras

        extras, scalars = state_extras({k: data[k]["state"] for k in ("audio", "image")})
        extras["brightness_probe"] = probe
        ckpt_config = {
            "mapper": result.mapper_config.to_dict(),
            "train": result.train_config.to_dict() if hasattr(result.train_config, "to_dict") else dict(vars(result.train_config)),
            "encoders": {k: {"name": data[k]["name"], "dim": data[k]["dim"], "config": data[k]["config"]}
                         for k in ("audio", "image")},
            "data_fingerprint": fingerprint(ctx.ws.parts("embed")),
            "fps": data["fps"],
            "context_seconds": context,
            "state_scalars": scalars,
            "best_epoch": result.best_epoch,
            "best": True,
            "n_train": len(result.train_idx),
            "n_val": len(result.val_idx),
            "val_start": int(result.val_idx[0]) if len(result.val_idx) else None,
        }
        path = save_checkpoint(ctx.ws.layout.checkpoints, name, state_dict=result.state_dict, config=ckpt_config,
                               metrics={"history": result.history, "final": metrics}, extras=extras)
        ctx.out.attrs.update(checkpoint=name, path=str(path), metrics=json.dumps(metrics))
        ctx.log(f"saved checkpoint {name}")
