"""Paint on several devices: one worker process per device, launched with torchrun.

``avstudio run`` starts the workers itself (:func:`avstudio.models.launch.launch`),
so the user types nothing more than ``render.devices = "all"``. The job
folder (the paint spool's key folder) holds the plans and the renderer's
settings; every worker builds its own renderer on its device, takes its share
of the segments (:func:`~avstudio.render.segments.assign`, longest first, the
same on every worker) and spools its frames into its own folder
``worker-<rank>``. The stage follows the spool for progress and merges the
chunks in frame order. A worker that dies ends the launch (torchrun stops the
others); every finished chunk stays for the next run to resume.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from avstudio.cancel import NEVER, CancelToken
from avstudio.models.launch import JOB_FILE, launch

PLANS_FILE = "plans.npz"


def save_job(job_dir: Path, plans: list, *, settings: dict[str, Any], devices: list[str], batch: int,
             chunk: int) -> None:
    """Write what workers need: the plans (arrays) and the renderer's settings (JSON)."""
    job_dir.mkdir(parents=True, exist_ok=True)
    np.savez(job_dir / PLANS_FILE,
             embedding=np.stack([p.embedding for p in plans]).astype(np.float32),
             cut=np.array([p.cut for p in plans]), strength=np.array([p.strength for p in plans], np.float64),
             polarity=np.array([p.polarity for p in plans], np.int64))
    job = {"settings": settings, "devices": devices, "batch": int(batch), "chunk": int(chunk), "n": len(plans)}
    (job_dir / JOB_FILE).write_text(json.dumps(job, indent=1), encoding="utf-8")


def load_plans(job_dir: Path) -> list:
    """The plans :func:`save_job` wrote."""
    from avstudio.render.base import FramePlan

    with np.load(job_dir / PLANS_FILE) as data:
        return [FramePlan(e, bool(c), float(s), int(p))
                for e, c, s, p in zip(data["embedding"], data["cut"], data["strength"], data["polarity"])]


def paint_on_devices(plans: list, spool: Any, *, settings: dict[str, Any], devices: list[str], batch: int,
                     chunk: int, cancel: CancelToken = NEVER, progress: Callable[[int, int], None] | None = None,
                     log: Callable[[str], None] = lambda m: None, poll: float = 0.5) -> int:
    """Paint ``plans`` with one torchrun worker per device into ``spool``; returns frames already painted.

    Raises
    ------
    StageError
        The launch failed or a worker died (its finished chunks are kept).
    Cancelled
        ``cancel`` fired: the workers are stopped, their chunks kept.
    """
    n = len(plans)
    resumed = spool.painted()
    if resumed:
        log(f"resuming: {resumed} of {n} frames are already painted")
    save_job(spool.dir, plans, settings=settings, devices=devices, batch=batch, chunk=chunk)
    launch(spool.dir, devices, "avstudio.render.workers", what="paint", cancel=cancel, log=log, poll=poll,
           on_poll=(lambda: progress(spool.painted(), n)) if progress else (lambda: None),
           kept=lambda: f"the {spool.painted()} frames painted so far are kept")
    return resumed


def worker_main(job_dir: Path) -> int:
    """One paint worker: ``python -m torch.distributed.run ... -m avstudio.render.workers JOB`` runs this."""
    from avstudio.models.launch import worker_context
    from avstudio.render.resume import ChunkSpool
    from avstudio.render.sd15 import SD15Renderer
    from avstudio.render.segments import assign, paint_segments, split

    with worker_context(job_dir) as (job, rank, world, device):
        tag = f"[worker {rank}]"
        plans = load_plans(job_dir)
        mine = assign(split(plans), world)[rank]
        frames = sum(b - a for a, b in mine)
        print(f"{tag} {device}: {len(mine)} segments, {frames} frames", flush=True)
        renderer = SD15Renderer(**{**job["settings"], "device": device})
        t0 = time.monotonic()
        renderer.load()
        print(f"{tag} loaded the pipeline in {time.monotonic() - t0:.1f} s", flush=True)
        t0 = time.monotonic()
        paint_segments(plans, renderer, ChunkSpool.worker(job_dir, rank), mine, batch=job["batch"],
                       chunk=job["chunk"])
        seconds = time.monotonic() - t0
        print(f"{tag} done: {frames} frames in {seconds:.1f} s ({frames / max(seconds, 1e-9):.2f} frames/s)",
              flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - run by torchrun in a subprocess
    sys.exit(worker_main(Path(sys.argv[1])))
