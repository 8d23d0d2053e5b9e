"""``avstudio export``: the original project's feature data format (JSON or CSV), or the sonification as MIDI."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

CSV_COLUMNS = ("frame", "time", "avg_r", "avg_g", "avg_b", "mass", "brightness", "contrast", "motion")


def export_records(ws: Any) -> dict[str, Any]:
    """``{"video_duration": s, "frames": [{"avg_color": [r, g, b], "mass": n, ...}, ...]}``.

    ``mass`` is the pixel count at source resolution, as the original reported it.
    """
    with ws.store.read("features") as fg:
        avg = fg["avg_color"][:]
        mass, bright, contrast, motion = (fg[k][:] for k in ("mass", "brightness", "contrast", "motion"))
    with ws.store.read("extract") as ex:
        duration = float(ex.attrs["duration"])
    frames = [
        {
            "avg_color": [round(float(c), 3) for c in avg[i]],
            "mass": int(round(float(mass[i]))),
            "brightness": round(float(bright[i]), 3),
            "contrast": round(float(contrast[i]), 3),
            "motion": round(float(motion[i]), 4),
        }
        for i in range(len(bright))
    ]
    return {"video_duration": duration, "frames": frames}


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1)


def to_csv(data: dict[str, Any], *, fps: float) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for i, f in enumerate(data["frames"]):
        writer.writerow([i, round(i / fps, 6), *f["avg_color"], f["mass"], f["brightness"], f["contrast"], f["motion"]])
    return buf.getvalue()


def export_midi(ws: Any, path: Any) -> int:
    """Write the sonification's notes and control curves to ``path`` as a Standard MIDI File.

    Uses the committed features and the manifest's ``[sonify]`` settings (the
    defaults in a workspace without that table). Returns the number of notes.
    """
    from avstudio.media.encode import atomic_output, check_writable
    from avstudio.stages.sonify import load_features
    from avstudio.synth import Synth, SonifyConfig
    from avstudio.synth.midi import to_midi

    config = SonifyConfig.from_dict(ws.manifest.params.get("sonify"))
    with ws.store.read("features") as fg:
        fps = float(fg.attrs["fps"])
        n_frames = int(fg.attrs["n_frames"])
        features = load_features(fg)
    synth = Synth(features, fps=fps, n_frames=n_frames, config=config)
    song = to_midi(synth.frame_params, fps=fps, config=config)
    check_writable(path)
    with atomic_output(path) as temp:
        song.save(str(temp))
    return sum(1 for m in song.tracks[1] if m.type == "note_on")
