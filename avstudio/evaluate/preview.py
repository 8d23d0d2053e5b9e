"""Preview frames and the comparison PNG for ``avstudio compare`` and the TUI.

Every checkpoint paints its test block through the one inference path
(:func:`avstudio.evaluate.holdout.paint_test_block`), exactly as the evaluate
stage does; rows are the evaluate stage's preview timestamps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from avstudio.errors import ModelError


def preview_frames(ws: Any, infos: list[Any]) -> tuple[list[int], dict[str, np.ndarray]]:
    """Test-block frames painted by each checkpoint next to the truth and the mean-frame baseline.

    Returns
    -------
    rows : list of int
        Frame indices (evenly spaced over the first checkpoint's test block).
    columns : dict of str to np.ndarray [shape=(rows, h, w, 3), uint8]
        ``"true"``, ``"mean frame"``, then one column per checkpoint name.
    """
    from avstudio.evaluate.baselines import mean_frame
    from avstudio.evaluate.holdout import _resize, paint_test_block, preview_rows
    from avstudio.painter.bundle import Painter
    from avstudio.painter.data import audio_embeddings, onsets, output_size

    painters = [Painter.load(info.path) for info in infos]
    first = painters[0]
    lo, hi = first.split.test
    rows = [lo + int(r) for r in preview_rows(hi - lo)]
    size = output_size(ws)
    with ws.store.read("features") as fg:
        brightness = fg["brightness"][:]
    with ws.store.read("extract") as ex:
        frames = ex["frames"]
        if len(frames) != first.split.n:
            raise ModelError(f"checkpoint {first.name} was trained on {first.split.n} frames, the store has "
                             f"{len(frames)}", hint="retrain with `avstudio run train`")
        true = _resize(np.stack([frames[r] for r in rows]), size)
        mean = _resize(mean_frame(frames, indices=first.split.indices("train"))[None], size)[0]
        columns: dict[str, np.ndarray] = {"true": true, "mean frame": np.repeat(mean[None], len(rows), axis=0)}
        for painter in painters:
            if painter.split.test != first.split.test:
                raise ModelError(f"checkpoints {first.name} and {painter.name} have different test blocks",
                                 hint="compare checkpoints trained with the same train.val_fraction / test_fraction")
            emb = audio_embeddings(ws, painter.encoder("audio")["name"])
            _, painted = paint_test_block(painter, frames=frames, audio_emb=emb, onset=onsets(ws, len(emb)),
                                          brightness=brightness, temporal=ws.manifest.params["temporal"],
                                          render=ws.manifest.params["render"], size=size,
                                          base_dir=str(ws.manifest.path.parent))
            columns[painter.name] = painted[[r - lo for r in rows]]
    return rows, columns


def short_labels(names: list[str]) -> list[str]:
    """Column titles that stay distinct when cut short: the part after the names' common prefix."""
    import os

    common = os.path.commonprefix(names) if len(names) > 1 else ""
    cut = common.rfind("-") + 1 if "-" in common else len(common)
    return [n[cut:] or n for n in names]


def write_comparison(ws: Any, infos: list[Any], out: Path) -> Path:
    """Contact sheet (rows = test-block timestamps) stacked over the loss curves, as one PNG."""
    from avstudio.evaluate.sheet import compose, contact_sheet, loss_plot, write_png

    rows, columns = preview_frames(ws, infos)
    fps = float(infos[0].config.get("fps", 1.0))
    labels = dict(zip([i.name for i in infos], short_labels([i.name for i in infos])))
    columns = {labels.get(k, k): v for k, v in columns.items()}
    sheet = contact_sheet(columns, row_labels=[f"t={r / fps:.2f}s" for r in rows])
    curves = {labels[i.name]: [(h["epoch"], h["train_loss"], h["val_loss"]) for h in i.history] for i in infos}
    write_png(out, compose(sheet, loss_plot(curves)))
    return out
