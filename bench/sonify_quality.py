"""Benchmark: how the sonification behaves on real clips, as numbers a listener would care about.

For each video it runs the sonify template in a temporary workspace and prints one row:

- notes/s: tone note changes per second; trills: the share of changes that go back to the previous
  note within 3 frames;
- LUFS and peak: integrated loudness (pyloudnorm) and peak of ``outputs/sonified.wav``;
- drone share: median over 1 s windows of the drone's power over the total (the drone isolated by
  rendering again with ``drone_level = 0``);
- pan range and the largest tremolo depth: how far noise can move them on a still picture;
- events: percussive notes (cuts and motion peaks).

``--tree DIR`` measures another checkout of avstudio (e.g. an older commit made with ``git worktree
add``) the same way, for a before/after table; ``--still`` adds a generated still picture encoded
with x264 (codec noise only).

    python bench/sonify_quality.py [VIDEO ...] [--tree DIR] [--still]

Default videos: ../shared/media/bigbuckbunny.mp4 and metal_madness_silhouette_60s.mp4 when present.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "media"


def note_curve(synth, config, fps):
    """The tone's note per frame, as this tree computes it (held notes where it has them)."""
    try:
        from avstudio.synth.control import frame_notes
    except ImportError:  # an older tree: plain rounding to the scale
        from avstudio.synth.pitch import quantise, scale_notes

        notes = scale_notes(config.scale, root_note=config.root_note, octaves=config.octaves)
        return quantise(config.root_note + 12.0 * config.octaves * synth.frame_params["pitch"], notes)
    return frame_notes(synth.frame_params["pitch"], config=config, fps=fps)


def measure(clip: Path, folder: Path) -> str:
    import pyloudnorm
    import soundfile

    from avstudio.pipeline.runner import run
    from avstudio.stages.sonify import load_features
    from avstudio.synth import SonifyConfig, Synth
    from avstudio.workspace.create import create_workspace
    from avstudio.workspace.workspace import Workspace

    root = folder / clip.stem
    create_workspace(root, template="sonify", video=clip)
    ws = Workspace(root)
    run(ws)
    with ws.store.read("features") as g:
        fps, n, features = float(g.attrs["fps"]), int(g.attrs["n_frames"]), load_features(g)
    config = SonifyConfig.from_dict(ws.manifest.params["sonify"])
    synth = Synth(features, fps=fps, n_frames=n, config=config)
    notes = np.asarray(note_curve(synth, config, fps))
    changes = np.flatnonzero(notes[1:] != notes[:-1]) + 1
    trills = sum(1 for c in changes if any(notes[c + j] == notes[c - 1] for j in range(1, 4) if c + j < n))
    x, sr = soundfile.read(str(root / "outputs" / "sonified.wav"))
    lufs = pyloudnorm.Meter(sr).integrated_loudness(x)
    full = synth.render()
    drone = full - Synth(features, fps=fps, n_frames=n, config=replace(config, drone_level=0.0)).render()
    shares = [float((drone[i:i + sr] ** 2).sum() / max((full[i:i + sr] ** 2).sum(), 1e-12))
              for i in range(0, len(full) - sr + 1, sr)]
    params = synth.frame_params
    return (f"| {clip.name} | {len(changes) / (n / fps):.2f} | {100 * trills / max(1, len(changes)):.0f} % | "
            f"{lufs:.1f} | {20 * np.log10(np.abs(x).max()):.1f} | {100 * np.median(shares):.0f} % | "
            f"{np.ptp(params['pan']):.2f} | {params['density'].max() * config.tremolo_depth:.2f} | "
            f"{len(getattr(synth, 'events', []))} |")


def still_clip(folder: Path) -> Path:
    """10 s of one smooth random picture, x264 crf 23: only codec noise changes."""
    from tests.synthmedia import make_video, smooth_texture

    picture = np.stack([smooth_texture(180, 320, seed=s) for s in range(3)], axis=-1)
    return make_video(folder / "still_x264.mp4", np.repeat(picture[None], 300, axis=0), fps=30, lossless=False,
                      crf=23)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--tree", type=Path, help="measure this avstudio checkout instead of this one")
    parser.add_argument("--still", action="store_true", help="add a still picture encoded with x264")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.tree.resolve() if args.tree else ROOT))
    sys.path.insert(1, str(ROOT))  # tests.synthmedia for --still
    videos = args.videos or [p for p in (SHARED / "bigbuckbunny.mp4", SHARED / "metal_madness_silhouette_60s.mp4")
                             if p.is_file()]
    with tempfile.TemporaryDirectory(prefix="avstudio-sonify-") as tmp:
        folder = Path(tmp)
        if args.still:
            videos = [still_clip(folder), *videos]
        print("| clip | notes/s | trills | LUFS | peak dBFS | drone share | pan range | max tremolo depth | events |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for clip in videos:
            print(measure(clip, folder), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
