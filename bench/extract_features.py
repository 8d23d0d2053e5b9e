"""Benchmark: extract+features against PyAV's bare decode of the same file, sonify against real time.

Each measurement runs in its own child process so peak RSS is that of the
measured work alone. For each video it prints frames/s, the ratio of
extract+features throughput to bare decode (measured in the same run), the
sonify real-time factor, and peak RSS; with --loop (default 4) it also runs a
copy of the first video looped N times to show that peak RSS does not grow
with video length.

    python bench/extract_features.py [VIDEO ...] [--loop 4] [--json]

Default videos: the bundled example, and ../shared/media/*.mp4 when present.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "media"


def child_decode(video: str) -> dict:
    from avstudio.media.decode import bare_decode_count

    t = time.perf_counter()
    n = bare_decode_count(video)
    return {"frames": n, "seconds": time.perf_counter() - t}


def child_pipeline(video: str, size: str = "default") -> dict:
    from avstudio.pipeline.runner import run
    from avstudio.workspace.create import create_workspace
    from avstudio.workspace.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        create_workspace(Path(tmp) / "ws", template="sonify", video=video)
        ws = Workspace(Path(tmp) / "ws")
        if size != "default":
            ws.manifest.set("analysis.size", int(size) if size.isdigit() else size)
            ws = Workspace(ws.root)
        secs: dict[str, float] = {}
        run(ws, ["sonify"], on_event=lambda e: secs.__setitem__(e.stage, e.seconds) if e.kind == "stage_finished" else None)
        with ws.store.read("extract") as ex:
            n, duration = int(ex.attrs["n_frames"]), float(ex.attrs["duration"])
            analysis = f"{ex.attrs['width']}x{ex.attrs['height']}"
    return {"frames": n, "duration": duration, "analysis": analysis, **{f"{k}_s": v for k, v in secs.items()}}


def measure(kind: str, video: Path, *extra: str) -> dict:
    args = ", ".join(repr(a) for a in (str(video), *extra))
    code = (f"import json, resource, sys; sys.path.insert(0, {str(ROOT)!r}); "
            f"from bench.extract_features import child_{kind} as f; r = f({args}); "
            "r['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(r))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{kind} on {video} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def loop_video(src: Path, dst: Path, times: int) -> Path:
    """``src`` repeated ``times`` times (packets remuxed with shifted timestamps, no re-encode)."""
    import av

    with av.open(str(src)) as inp:
        span: dict[int, int] = {}
        for packet in inp.demux():
            if packet.pts is not None:
                i = packet.stream.index
                span[i] = max(span.get(i, 0), packet.pts + (packet.duration or 0))
    with av.open(str(src)) as first, av.open(str(dst), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in first.streams if s.type in ("video", "audio")}
        last = {i: -1 for i in streams}
        for k in range(times):
            with av.open(str(src)) as inp:
                for packet in inp.demux(*[inp.streams[i] for i in streams]):
                    if packet.pts is None or packet.dts is None:
                        continue
                    i = packet.stream.index
                    packet.pts += k * span[i]
                    packet.dts += k * span[i]
                    if packet.dts <= last[i]:  # the next pass's priming packet overlaps the last one
                        continue
                    last[i] = packet.dts
                    packet.stream = streams[i]
                    out.mux(packet)
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="*", type=Path)
    ap.add_argument("--loop", type=int, default=4, help="also run the first video looped N times (0 = skip)")
    ap.add_argument("--size", default="default",
                    help='analysis.size to use: "default" (the sonify template\'s), "source" or pixels')
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    videos = args.videos or [ROOT / "examples" / "bigbuckbunny_320x180.mp4", *sorted(SHARED.glob("*.mp4"))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.loop > 1:
            base = next((v for v in videos if "metal" in v.name), videos[0])
            videos.append(loop_video(base, Path(tmp) / f"{base.stem}_x{args.loop}.mp4", args.loop))
        for video in videos:
            dec = measure("decode", video)
            pipe = measure("pipeline", video, args.size)
            ef = pipe["extract_s"] + pipe["features_s"]
            rows.append({
                "video": video.name,
                "frames": pipe["frames"],
                "analysis": pipe["analysis"],
                "duration_s": round(pipe["duration"], 3),
                "decode_fps": round(dec["frames"] / dec["seconds"], 1),
                "extract_features_fps": round(pipe["frames"] / ef, 1),
                "ratio_to_decode": round((pipe["frames"] / ef) / (dec["frames"] / dec["seconds"]), 3),
                "sonify_x_realtime": round(pipe["duration"] / pipe["sonify_s"], 1),
                "peak_rss_mb": round(pipe["peak_rss_mb"], 1),
            })
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    cols = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths)))
    print("\nratio_to_decode = (extract+features frames/s) / (bare PyAV decode frames/s at source size), same file,"
          " same run; extract includes writing the analysis frames to the store; sonify_x_realtime = video"
          " duration / sonify stage time; peak RSS of the process running the stages.")


if __name__ == "__main__":
    main()
