"""Stage fingerprints and the explanation of why a stage is stale (DVC style).

A fingerprint is the SHA-256 of canonical JSON (sorted keys) of its *parts*:
the stage's ``VERSION``, the manifest params it reads, its upstream stages'
fingerprints and the identity of its input files. Source code is never hashed:
a stage's ``VERSION`` is bumped by hand when its output changes meaning.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_EDGE = 1 << 20


def canonical(obj: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, floats as Python prints them."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def fingerprint(parts: dict[str, Any]) -> str:
    """SHA-256 hex digest of the canonical JSON of ``parts``."""
    return hashlib.sha256(canonical(parts).encode()).hexdigest()


def file_identity(path: Path) -> dict[str, Any]:
    """Identity of an input file: size and a hash of its first and last MiB.

    The content hash makes a copied or touched file count as unchanged and an
    edited one as changed, without reading a whole long video. ``mtime`` is
    recorded for information but not compared.
    """
    try:
        st = path.stat()
    except OSError:
        return {"path": str(path), "missing": True}
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            h.update(f.read(_EDGE))
            if st.st_size > 2 * _EDGE:
                f.seek(-_EDGE, 2)
                h.update(f.read(_EDGE))
    except OSError as exc:  # a folder, or not readable: the stage that opens it says so in one line
        return {"path": str(path), "unreadable": exc.strerror or type(exc).__name__}
    return {"path": str(path), "size": st.st_size, "hash": h.hexdigest()[:32]}


def _same_input(old: Any, new: Any) -> bool:
    if isinstance(old, dict) and isinstance(new, dict) and "hash" in new:
        return old.get("size") == new.get("size") and old.get("hash") == new.get("hash")
    return old == new


def explain(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Why the fingerprint ``new`` differs from the recorded ``old`` parts.

    Returns
    -------
    list of str
        E.g. ``["params.features.flow_size changed (96 -> 64)", "upstream extract changed"]``;
        empty when nothing that matters changed.
    """
    if not old:
        return ["never run"]
    if not isinstance(old, dict):
        return ["the recorded fingerprint is unreadable"]
    reasons: list[str] = []
    if old.get("version") != new.get("version"):
        reasons.append(f"stage version changed ({old.get('version')} -> {new.get('version')})")
    old_p, new_p = _section(old, "params"), _section(new, "params")
    for key in sorted(set(old_p) | set(new_p)):
        if old_p.get(key) != new_p.get(key):
            reasons.append(f"params.{key} changed ({_short(old_p.get(key))} -> {_short(new_p.get(key))})")
    old_u, new_u = _section(old, "upstream"), _section(new, "upstream")
    for key in sorted(set(old_u) | set(new_u)):
        if old_u.get(key) != new_u.get(key):
            reasons.append(f"upstream {key} changed")
    old_i, new_i = _section(old, "inputs"), _section(new, "inputs")
    for key in sorted(set(old_i) | set(new_i)):
        if not _same_input(old_i.get(key), new_i.get(key)):
            reasons.append(f"{key} changed")
    return reasons


def _section(parts: dict[str, Any], key: str) -> dict[str, Any]:
    """One section of recorded parts; a damaged (non-object) one reads as empty, so every key differs."""
    value = parts.get(key)
    return value if isinstance(value, dict) else {}


def _short(value: Any) -> str:
    text = "unset" if value is None else canonical(value)
    return text if len(text) <= 40 else text[:37] + "..."


def same(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """True when nothing in ``new`` differs from the recorded ``old`` parts."""
    return bool(old) and not explain(old, new)
