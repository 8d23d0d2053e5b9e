"""Workspace templates: ``templates/<name>/avstudio.toml`` (commented) plus a README.

The commented manifests are generated from the schema (``render_manifest``) so
that every key is documented with its default and allowed values; a test
checks the committed files match, so docs and code cannot drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit

from avstudio.errors import ManifestError, WorkspaceError
from avstudio.resources import data_dir, template_names
from avstudio.workspace.sections import sections_for

TEMPLATE_DEFAULTS: dict[str, dict[str, Any]] = {
    "sonify": {"project.name": "sonify", "project.template": "sonify"},
    "bad-apple": {
        "project.name": "bad-apple",
        "project.template": "bad-apple",
        "analysis.fps": 15.0,
        "analysis.size": 320,
        "features.flow_size": 32,
    },
}

INTRO = {
    "sonify": "Sonify a video: per-frame visual features become a WAV exactly as long as the video.",
    "bad-apple": "The blind painter: learn from a music video to paint frames from audio alone.",
}


def _toml_value(value: Any) -> str:
    return tomlkit.item(value).as_string()


def render_manifest(template: str) -> str:
    """The commented ``avstudio.toml`` of ``template``: every key, its default and allowed values."""
    overrides = TEMPLATE_DEFAULTS[template]
    lines = [
        f"# avstudio workspace manifest (template: {template})",
        f"# {INTRO[template]}",
        "# Edit by hand; every avstudio command re-reads it. Keys you delete fall back to the",
        "# defaults shown here. Run `avstudio status` after an edit to see which stages went stale.",
        "",
    ]
    for section in sections_for(template).values():
        lines.append(f"[{section.name}]")
        lines.append(f"# {section.doc}")
        for key, field in section.fields.items():
            value = overrides.get(f"{section.name}.{key}", field.default)
            lines.append(f"# {field.doc} ({field.allowed()})")
            if field.kind == "str_map":
                continue
            if key == "video" and section.name == "media":
                value = "VIDEO"
            if value is None:
                lines.append(f"# {key} =   (unset: automatic)")
            elif field.commented:
                lines.append(f"# {key} = {_toml_value(value)}   (set by the preset unless you uncomment it)")
            else:
                lines.append(f"{key} = {_toml_value(value)}")
        for key, field in section.fields.items():
            if field.kind == "str_map":
                lines.append("")
                lines.append(f"[{section.name}.{key}]")
                for k, v in field.default.items():
                    lines.append(f"{k} = {_toml_value(v)}")
        lines.append("")
    return "\n".join(lines)


def template_dir(template: str) -> Path:
    """The folder of ``template``; WorkspaceError naming the known ones if absent."""
    names = template_names()
    if template not in names:
        raise WorkspaceError(
            f"unknown template {template!r}", hint=f"available templates: {', '.join(names) or 'none found'}"
        )
    return data_dir("templates") / template


def instantiate(template: str, *, name: str, video: str) -> str:
    """The template's manifest text with the project name and video filled in (comments kept)."""
    text = (template_dir(template) / "avstudio.toml").read_text(encoding="utf-8")
    doc = tomlkit.parse(text)
    try:
        doc["project"]["name"] = name
        doc["media"]["video"] = video
    except KeyError as exc:  # pragma: no cover - broken template
        raise ManifestError(f"template {template} has no {exc} key") from None
    return tomlkit.dumps(doc)


def manifest_reference() -> str:
    """The README's manifest reference (markdown), generated from the schema."""
    from avstudio.workspace.sections import all_sections

    out = []
    for section in all_sections():
        where = " and ".join(f"`{t}`" for t in section.templates)
        out += [f"### `[{section.name}]` ({where})", "", section.doc, "",
                "| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]
        for key, field in section.fields.items():
            default = "automatic" if field.default is None else _toml_value(field.default)
            if field.kind == "str_map":
                default = ", ".join(f"{k} = {v}" for k, v in field.default.items())
            allowed = field.allowed().replace("|", "\\|")
            out.append(f"| `{key}` | `{default}` | {allowed} | {field.doc} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
