"""``avstudio export``: the original project's feature data format (JSON or CSV)."""

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
