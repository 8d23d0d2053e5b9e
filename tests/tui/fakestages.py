"""Tiny stages for TUI tests: fast, deterministic, and one that can be held mid-run.

``install()`` replaces the sonify template's pipeline with these (the manifest stays a real
sonify manifest). The ``slow`` stage reports ``AVSTUDIO_FAKE_CHUNKS`` chunks of progress
(default 5), sleeping ``AVSTUDIO_FAKE_DELAY`` seconds per chunk; with ``AVSTUDIO_FAKE_GATE``
set to a path it stops after ``AVSTUDIO_FAKE_HOLD_AT`` chunks (default 2) until that file
exists, checking the cancel token meanwhile; with ``AVSTUDIO_FAKE_FAIL`` set it raises a
StageError after two chunks.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from avstudio.errors import StageError
from avstudio.pipeline.stage import Stage, StageContext

FAKE_PIPELINE = (
    "tests.tui.fakestages:SourceStage",
    "tests.tui.fakestages:SlowStage",
    "tests.tui.fakestages:TailStage",
)


class SourceStage(Stage):
    name = "source"
    params = ("analysis.size",)
    description = "fake: analysis.size numbers"

    def run(self, ctx: StageContext) -> None:
        n = int(ctx.param("analysis.size"))
        ctx.out.create_dataset("values", data=np.arange(n, dtype=np.int32))
        ctx.log(f"wrote {n} values")


class SlowStage(Stage):
    name = "slow"
    deps = ("source",)
    params = ("analysis.chunk",)
    description = "fake: chunks of progress, can be held"

    def run(self, ctx: StageContext) -> None:
        chunks = int(os.environ.get("AVSTUDIO_FAKE_CHUNKS", "5"))
        delay = float(os.environ.get("AVSTUDIO_FAKE_DELAY", "0"))
        gate = os.environ.get("AVSTUDIO_FAKE_GATE")
        hold_at = int(os.environ.get("AVSTUDIO_FAKE_HOLD_AT", "2"))
        with ctx.ws.store.read("source") as src:
            values = src["values"][:]
        for i in range(chunks):
            if gate and i == hold_at:
                while not Path(gate).exists():
                    ctx.cancel.check()
                    time.sleep(0.01)
            time.sleep(delay)
            ctx.progress(i + 1, chunks, unit="chunks", force=True)
            ctx.log(f"chunk {i + 1}/{chunks}")
            if os.environ.get("AVSTUDIO_FAKE_FAIL") and i == 1:
                raise StageError("the fake stage failed on purpose", hint="unset AVSTUDIO_FAKE_FAIL")
        ctx.out.create_dataset("total", data=np.array([values.sum()], dtype=np.int64))
        ctx.out.attrs["chunk"] = int(ctx.param("analysis.chunk"))


class TailStage(Stage):
    name = "tail"
    deps = ("slow",)
    description = "fake: the last stage"

    def run(self, ctx: StageContext) -> None:
        with ctx.ws.store.read("slow") as slow:
            total = int(slow["total"][0])
        ctx.out.create_dataset("total_again", data=np.array([total], dtype=np.int64))
        ctx.log(f"total {total}")


def install() -> None:
    """Make sonify workspaces run the fake pipeline (for a subprocess)."""
    import avstudio.stages

    avstudio.stages.PIPELINES["sonify"] = FAKE_PIPELINE
