"""Recorded state of each stage, kept outside HDF5 in ``.avstudio/state.json``.

Per stage: what its committed output was made from (fingerprint and the parts
that went into it, so staleness can be explained) and how its last run ended.
Written atomically by the single writer; read by anyone (status, the TUI).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE_SCHEMA = 1


def load_state(path: Path) -> dict[str, Any]:
    """``{"stages": {name: {"done": {...}, "last_run": {...}}}}``; empty if absent or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"schema": STATE_SCHEMA, "stages": {}}
    data.setdefault("stages", {})
    return data


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def update_stage(path: Path, stage: str, **entries: Any) -> None:
    """Merge ``entries`` (e.g. ``done=...``, ``last_run=...``) into one stage's record."""
    state = load_state(path)
    state["stages"].setdefault(stage, {}).update(entries)
    save_state(path, state)
