"""Locating bundled templates and examples (repo checkout or installed wheel)."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """``templates`` or ``examples``: from the wheel's ``_data`` or the repo checkout."""
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    return _PKG.parent / name


def template_names() -> list[str]:
    """Templates available to ``avstudio init``."""
    root = data_dir("templates")
    return sorted(p.name for p in root.iterdir() if (p / "avstudio.toml").is_file()) if root.is_dir() else []
