"""Preview frames and the comparison PNG for ``avstudio compare`` and the TUI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from avstudio.errors import ModelError


def evaluation(info: Any) -> dict[str, Any]:
    """The nested held-out evaluation of a checkpoint (``metrics.json``; JSON only)."""
    import json

    try:
        return json.loads((Path(info.path) / "metrics.json").read_text()).get("final", {})
    except (OSError, ValueError):
        return {}


def _store_audio_embeddings(ws: Any, name: str) -> np.ndarray:
    from avstudio.stages.embed import group_key

    with ws.store.read("embed") as g:
        key = group_key(name)
        if key not in g["audio"]:
            raise ModelError(f"the store has no audio embeddings of {name!r} to preview this checkpoint with",
                             hint=f"set encoders.audio to the checkpoint's encoder and run `avstudio run embed`")
        return g["audio"][key]["embeddings"][:]


def preview_frames(ws: Any, infos: list[Any]) -> tuple[list[int], dict[str, np.ndarray]]:
    """Held-out frames painted by each checkpoint next to the truth and the mean-frame baseline.

    Returns
    -------
    rows : list of int
        Frame indices (the first checkpoint's held-out preview rows).
    columns : dict of str to np.ndarray [shape=(rows, h, w, 3), uint8]
        ``"true"``, ``"mean frame"``, then one column per checkpoint name.
    """
    from avstudio.encoders.builtin_image import BuiltinImageEncoder
    from avstudio.evaluate.baselines import mean_frame
    from avstudio.evaluate.holdout import decode_predictions
    from avstudio.mapper.checkpoint import load_checkpoint
    from avstudio.mapper.context import mapper_inputs
    from avstudio.mapper.model import MapperConfig
    from avstudio.mapper.train import predict
    from avstudio.render.painter import checkpoint_state
    from avstudio.render.polarity import track_polarity
    from avstudio.stages.train import apply_probe

    rows = list(evaluation(infos[0]).get("preview", []))
    if not rows:
        raise ModelError(f"checkpoint {infos[0].name} has no held-out preview rows", hint="retrain with val_fraction > 0")
    temporal = ws.manifest.params.get("temporal", {})
    kw = {"light_above": temporal.get("light_above", 175.0), "dark_below": temporal.get("dark_below", 80.0)}
    with ws.store.read("extract") as ex:
        frames = ex["frames"]
        true = np.stack([frames[r] for r in rows])
        n_train = int(infos[0].config.get("n_train", rows[0]))
        mean = mean_frame(frames, stop=n_train)
    size = (true.shape[2], true.shape[1])
    columns: dict[str, np.ndarray] = {"true": true, "mean frame": np.repeat(mean[None], len(rows), axis=0)}
    for info in infos:
        ckpt = load_checkpoint(info.path)
        image = ckpt.config["encoders"]["image"]
        if image["name"] != "builtin-image":
            raise ModelError(f"checkpoint {info.name} uses {image['name']}; previews need the built-in image encoder",
                             hint="compare metrics only (avstudio checkpoints), or paint with the sd15 renderer")
        emb = mapper_inputs(ckpt.config, _store_audio_embeddings(ws, ckpt.config["encoders"]["audio"]["name"]))
        pred = predict(ckpt.state_dict, MapperConfig.from_dict(ckpt.config["mapper"]), emb)
        polarity = track_polarity(apply_probe(ckpt.extras["brightness_probe"], pred), **kw)
        decoder = BuiltinImageEncoder.from_state(checkpoint_state(ckpt, "image"), image["config"])
        columns[info.name] = decode_predictions(decoder, pred[rows], polarity[rows], size=size,
                                                crispness=ws.manifest.get("render.crispness"))
    return rows, columns


def short_labels(names: list[str]) -> list[str]:
    """Column titles that stay distinct when cut short: the part after the names' common prefix."""
    import os

    common = os.path.commonprefix(names) if len(names) > 1 else ""
    cut = common.rfind("-") + 1 if "-" in common else len(common)
    return [n[cut:] or n for n in names]


def write_comparison(ws: Any, infos: list[Any], out: Path) -> Path:
    """Contact sheet (rows = held-out timestamps) stacked over the loss curves, as one PNG."""
    from avstudio.evaluate.sheet import compose, contact_sheet, loss_plot, write_png

    rows, columns = preview_frames(ws, infos)
    fps = float(infos[0].config.get("fps", 1.0))
    labels = dict(zip([i.name for i in infos], short_labels([i.name for i in infos])))
    columns = {labels.get(k, k): v for k, v in columns.items()}
    sheet = contact_sheet(columns, row_labels=[f"t={r / fps:.2f}s" for r in rows])
    curves = {labels[i.name]: [(h["epoch"], h["train_loss"], h["val_loss"]) for h in i.history] for i in infos}
    write_png(out, compose(sheet, loss_plot(curves)))
    return out
