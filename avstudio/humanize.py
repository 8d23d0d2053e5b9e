"""Short human strings for both front-ends: durations, sizes, times, rates, state icons. Pure functions."""

from __future__ import annotations

import time

STATE_ICON = {"fresh": "✓", "stale": "~", "missing": "○", "failed": "✗", "interrupted": "‖", "running": "▶"}
"""One character per stage state, so the state reads without colour too."""

STATE_COLOR = {
    "fresh": "text-success",
    "stale": "text-warning",
    "missing": "text-secondary",
    "failed": "text-error",
    "interrupted": "text-warning",
    "running": "text-primary",
}
"""Theme variable per state (so colours follow the theme and degrade under NO_COLOR)."""


def duration(seconds: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4:05``, ``1:02:03``; empty for None."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def size(n: int | None) -> str:
    """``512 B``, ``3.4 KB``, ``12.0 MB``; empty for 0 or None."""
    if not n:
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""  # pragma: no cover


def clock(ts: float | None) -> str:
    """A timestamp as ``05-14 12:01`` in local time; empty for None."""
    if not ts:
        return ""
    return time.strftime("%m-%d %H:%M", time.localtime(ts))


def rate(value: float | None, unit: str) -> str:
    """``45.2 frames/s``, ``44,100 samples/s``; empty when unknown."""
    if not value:
        return ""
    text = f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    return f"{text} {unit}/s"


def eta(done: float, total: float | None, speed: float | None) -> float | None:
    """Seconds left at ``speed`` units per second, or None if it cannot be known."""
    if not total or not speed or speed <= 0:
        return None
    return max(total - done, 0.0) / speed


def progress_line(stage: str, done: float, total: float | None, unit: str, speed: float | None,
                  metrics: dict[str, float] | None = None) -> str:
    """``features  120/300 frames · 45.2 frames/s · ETA 0:04`` (``· val loss 0.393`` while training)."""
    count = f"{done:,.0f}/{total:,.0f}" if total else f"{done:,.0f}"
    parts = [f"{stage}  {count} {unit}"]
    if speed:
        parts.append(rate(speed, unit))
    left = eta(done, total, speed)
    if left is not None:
        parts.append(f"ETA {duration(left)}")
    parts += [f"{name.replace('_', ' ')} {value:.4g}" for name, value in (metrics or {}).items() if name == "val_loss"]
    return " · ".join(parts)


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def number(value: object, *, missing: str = "—") -> str:
    """A table cell for a param or metric: floats to 4 significant digits, ``missing`` for None."""
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
