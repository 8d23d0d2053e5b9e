"""Benchmark: the blind painter (bad-apple template, built-in backends) on one clip, in one run.

Times each stage, reports paint speed as a multiple of real time and against
the decoder renderer painted in the same run, and prints the evaluate stage's
test-block table (painter next to every baseline, music frames and silent
stretches).

    python bench/blind_painter.py [VIDEO] [--keep DIR] [--json]

Default VIDEO: ../shared/media/sectoid_shadowplay_90s.mp4 (falls back to the
bundled 36 s cut).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "media" / "sectoid_shadowplay_90s.mp4"
FALLBACK = ROOT / "examples" / "sectoid_shadowplay_36s_160x120.mp4"


def bench(video: Path, root: Path) -> dict:
    from avstudio.pipeline.runner import run
    from avstudio.workspace.create import create_workspace
    from avstudio.workspace.workspace import Workspace

    create_workspace(root, template="bad-apple", video=video)
    ws = Workspace(root)
    secs: dict[str, float] = {}

    def on_event(e) -> None:
        if e.kind == "stage_finished":
            secs[e.stage] = e.seconds

    t0 = time.perf_counter()
    result = run(ws, on_event=on_event)
    total = time.perf_counter() - t0
    if result.exit_code:
        raise SystemExit(f"run failed: {result.failed}")
    with ws.store.read("paint") as pg:
        painted, fps = int(pg.attrs["n_frames"]), float(pg.attrs["fps"])
    with ws.store.read("evaluate") as g:
        report = json.loads(g.attrs["report"])
    stages = {k: round(v, 2) for k, v in secs.items()}
    backend = ws.manifest.get("render.backend")
    ws.manifest.set("render.backend", "decoder")  # the reference, painted in the same run
    run(Workspace(root), ("paint",), on_event=on_event)
    ws.manifest.set("render.backend", backend)  # a kept workspace is left as the template made it
    return {"video": video.name, "stages_s": stages, "total_s": round(total, 2), "frames": painted,
            "paint_x_realtime": round(painted / fps / stages["paint"], 1),
            "retrieval_vs_decoder_time": round(stages["paint"] / secs["paint"], 2), "report": report}


def main() -> None:
    from avstudio.evaluate.holdout import evaluation_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", nargs="?", type=Path)
    ap.add_argument("--keep", type=Path, help="keep the workspace in this folder")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    video = args.video or (DEFAULT if DEFAULT.is_file() else FALLBACK)
    with tempfile.TemporaryDirectory() as tmp:
        r = bench(video, args.keep or Path(tmp) / "ws")
    if args.json:
        print(json.dumps(r, indent=1))
        return
    print(f"{r['video']}: {r['frames']} frames, whole run {r['total_s']} s")
    print("stage times (s): " + ", ".join(f"{k} {v}" for k, v in r["stages_s"].items()))
    print(f"paint: {r['paint_x_realtime']}x real time; retrieval takes {r['retrieval_vs_decoder_time']}x "
          "the decoder renderer's time (same run)")
    for line in evaluation_table(r["report"]):
        print(line)


if __name__ == "__main__":
    main()
