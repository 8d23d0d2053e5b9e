"""What ``avstudio models`` reports: each configured model, found or not, where, size, dimension."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from avstudio.errors import ModelError


def _dim_from_config(folder: Path, *keys: str) -> int | None:
    for name in ("config.json",):
        path = folder / name
        if path.is_file():
            cfg = json.loads(path.read_text())
            for key in keys:
                value = cfg
                for part in key.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                if isinstance(value, int):
                    return value
    return None


def configured_models(manifest: Any) -> list[dict[str, Any]]:
    """One entry per model role the manifest configures (built-in backends included)."""
    from avstudio.models.resolve import folder_size, resolve_model

    if manifest.template != "bad-apple":
        return []
    enc, render = manifest.params["encoders"], manifest.params["render"]
    base = manifest.path.parent
    roles: list[tuple[str, str, str | None, tuple[str, ...], tuple[str, ...]]] = []
    for role, spec, prefix, dims in (("encoders.audio", enc["audio"], "clap:", ("projection_dim",)),
                                     ("encoders.image", enc["image"], "clip:", ("projection_dim",))):
        if spec == "builtin":
            roles.append((role, spec, None, (), ()))
        else:
            roles.append((role, spec, spec.split(":", 1)[1] if spec.startswith(prefix) else spec, ("config.json",), dims))
    if render["backend"] == "sd15":
        roles.append(("render.model", render["model"], render["model"], ("model_index.json",), ()))
        roles.append(("render.ip_adapter", render["ip_adapter"], render["ip_adapter"], (), ()))
    else:
        roles.append(("render.backend", "builtin", None, (), ()))
    out = []
    for role, spec, ref, required, dims in roles:
        entry: dict[str, Any] = {"role": role, "spec": spec, "found": True, "path": None, "bytes": 0, "dim": None}
        if ref is None:
            entry["note"] = "built-in, no weights"
            out.append(entry)
            continue
        try:
            if role == "render.ip_adapter":
                from avstudio.render.ip_adapter import ip_adapter_embed_dim, resolve_ip_adapter

                path = resolve_ip_adapter(ref, base=base)
                entry["dim"] = ip_adapter_embed_dim(path)
            else:
                path = resolve_model(ref, role=role, required=required, base=base)
                entry["dim"] = _dim_from_config(path, *dims) if dims else None
            entry.update(path=str(path), bytes=folder_size(path) if path.is_dir() else path.stat().st_size)
        except ModelError as exc:
            entry.update(found=False, error=exc.one_line())
        out.append(entry)
    return out
