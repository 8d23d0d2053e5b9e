"""Benchmark: the blind painter on the silhouette clip, in one run.

Times each stage of the bad-apple template (built-in backends), reports paint
frames/s, and prints the held-out metrics of the mapper next to both baselines
(mean training frame, nearest-neighbour retrieval) computed in the same run.

    python bench/blind_painter.py [VIDEO] [--keep DIR] [--json]

Default VIDEO: ../shared/media/metal_madness_silhouette_60s.mp4 (falls back to
the bundled 20 s excerpt).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "media" / "metal_madness_silhouette_60s.mp4"
FALLBACK = ROOT / "examples" / "metal_madness_20s_160x120.mp4"
METRICS = ("ssim", "iou", "mae", "brightness_corr", "polarity_accuracy", "embedding_cosine")


def bench(video: Path, root: Path) -> dict:
    from avstudio.mapper.checkpoint import list_checkpoints
    from avstudio.pipeline.runner import run
    from avstudio.workspace.create import create_workspace
    from avstudio.workspace.workspace import Workspace

    create_workspace(root, template="bad-apple", video=video)
    ws = Workspace(root)
    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    result = run(ws, on_event=lambda e: secs.__setitem__(e.stage, e.seconds) if e.kind == "stage_finished" else None)
    total = time.perf_counter() - t0
    if result.exit_code:
        raise SystemExit(f"run failed: {result.failed}")
    info = list_checkpoints(ws.layout.checkpoints)[0]
    final = json.loads((info.path / "metrics.json").read_text())["final"]
    with ws.store.read("paint") as pg:
        painted = int(pg.attrs["n_frames"])
    return {"video": video.name, "stages_s": {k: round(v, 2) for k, v in secs.items()}, "total_s": round(total, 2),
            "paint_fps": round(painted / secs["paint"], 1), "frames": painted,
            "held_out": {k: {m: round(final[k][m], 3) for m in METRICS if m in final[k]}
                         for k in ("mapper", "mean_frame", "nearest_neighbour")}, "n_val": final["n_val"]}


def main() -> None:
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
    print(f"paint: {r['paint_fps']} frames/s (built-in renderer)")
    print(f"\nheld-out block ({r['n_val']} frames):")
    print(f"{'':<18}" + "".join(f"{m:>18}" for m in METRICS))
    for who, vals in r["held_out"].items():
        print(f"{who:<18}" + "".join(f"{vals.get(m, float('nan')):>18.3f}" for m in METRICS))


if __name__ == "__main__":
    main()
