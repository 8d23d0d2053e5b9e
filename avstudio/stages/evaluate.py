"""``evaluate``: score the painter on the test block next to baselines, as ``paint`` would paint it.

Store
-----
``/evaluate`` attrs ``report`` (JSON, see :func:`avstudio.evaluate.holdout.evaluate_painter`)
and ``checkpoint``. The report is also written into the checkpoint folder
(``evaluation.json``, read by ``checkpoints``, ``compare`` and the TUI), and the
contact sheet of the test block (true | mean frame | painted) to
``outputs/evaluation.png``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from avstudio.files import translate_os_errors
from avstudio.pipeline.stage import Stage, StageContext
from avstudio.stages.paint import RENDER_PARAMS, checkpoint_inputs, load_painter


class EvaluateStage(Stage):
    """Paint the test block with the full temporal logic and score it (never trains, never chooses)."""

    name = "evaluate"
    VERSION = 1
    deps = ("extract", "features", "embed", "train", "paint")
    params = RENDER_PARAMS
    description = "score the painter on the test block next to baselines"

    def inputs(self, ws: Any) -> dict[str, Any]:
        return checkpoint_inputs(ws)

    def outputs(self, ws: Any) -> list[Path]:
        return [ws.layout.outputs / "evaluation.png"]

    def run(self, ctx: StageContext) -> None:
        from avstudio.evaluate.holdout import (ASCII_ARROWS, block_title, evaluate_painter, evaluation_cells,
                                               summary_line)
        from avstudio.evaluate.sheet import compose, contact_sheet, table_image, write_png
        from avstudio.painter.data import onsets, output_size

        ws = ctx.ws
        painter, data = load_painter(ws)
        with ws.store.read("features") as fg:
            brightness = fg["brightness"][:]
            rms = fg["audio/rms"][:] if "audio" in fg else None
        with ws.store.read("extract") as ex:
            report, preview = evaluate_painter(
                painter, frames=ex["frames"], audio_emb=data["audio"]["emb"], onset=onsets(ws, data["n"]),
                brightness=brightness, rms=rms, temporal=ws.manifest.params["temporal"],
                render=ws.manifest.params["render"], size=output_size(ws), base_dir=str(ws.manifest.path.parent),
                cancel=ctx.cancel, log=ctx.log)
        ctx.log(summary_line(report))
        text = json.dumps(report, indent=1, sort_keys=True, default=float)
        ctx.out.attrs.update(report=text, checkpoint=painter.name)
        tmp = painter.path / ".evaluation.json.tmp"
        with translate_os_errors(painter.path, temps=[tmp], what="evaluation.json"):
            tmp.write_text(text + "\n")
            os.replace(tmp, painter.path / "evaluation.json")
        sheet = contact_sheet(preview, row_labels=[f"t={r / painter.fps:.2f}s" for r in report["preview"]])
        for subset, entry in report["subsets"].items():
            if entry.get("rows"):
                sheet = compose(sheet, table_image(block_title(report, subset),
                                                     *evaluation_cells(report, subset, arrows=ASCII_ARROWS)))
        png = write_png(self.outputs(ws)[0], sheet)
        ctx.log(f"wrote {png.relative_to(ws.root)} (test block: true | mean frame | painted)")
