"""Reading, validating and (comment-preserving) writing of ``avstudio.toml``.

The manifest is edited by hand and re-read on every command. avstudio writes to
it only when asked to (``init``, choosing a checkpoint), through tomlkit, so the
user's comments and layout survive. Computed state never goes into it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError

from avstudio.errors import ManifestError
from avstudio.workspace.layout import Layout
from avstudio.workspace.schema import flatten, validate
from avstudio.workspace.sections import TEMPLATES, sections_for


@dataclass
class Manifest:
    """A validated manifest.

    Attributes
    ----------
    path : Path
        The ``avstudio.toml`` file.
    doc : tomlkit.TOMLDocument
        The parsed document (keeps comments, used for writing).
    params : dict
        ``{table: {key: value}}`` with defaults filled in.
    """

    path: Path
    doc: Any
    params: dict[str, dict[str, Any]]

    @property
    def template(self) -> str:
        return self.params["project"]["template"]

    @property
    def flat(self) -> dict[str, Any]:
        """Every value by dotted key, e.g. ``{"sonify.scale": "pentatonic"}``."""
        return flatten(self.params)

    def get(self, dotted: str) -> Any:
        table, key = dotted.split(".", 1)
        return self.params[table][key]

    def media_path(self, key: str = "video") -> Path:
        """The media file named by ``media.<key>``, resolved against the workspace."""
        value = self.params["media"][key]
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.path.parent / path
        return path.resolve()

    def set(self, dotted: str, value: Any) -> None:
        """Set ``dotted`` to ``value``, validate, and write the file keeping comments."""
        table, key = dotted.split(".", 1)
        if table not in self.doc:
            self.doc[table] = tomlkit.table()
        self.doc[table][key] = value
        params = _validate_doc(self.doc.unwrap())
        write_text_atomic(self.path, tomlkit.dumps(self.doc))
        self.params = params


def _validate_doc(plain: dict[str, Any]) -> dict[str, dict[str, Any]]:
    project = plain.get("project", {})
    template = project.get("template") if isinstance(project, dict) else None
    if template not in TEMPLATES:
        raise ManifestError(
            f"manifest: project.template = {template!r} is not a known template",
            hint=f"allowed: {', '.join(repr(t) for t in TEMPLATES)}",
        )
    params = validate(plain, sections_for(template))
    if not params["media"]["video"]:
        raise ManifestError(
            "manifest: media.video is empty", hint="set it to the path of your video file"
        )
    return params


def parse_manifest(text: str, path: Path) -> Manifest:
    """Parse and validate manifest text (``path`` is used for messages and relative media)."""
    try:
        doc = tomlkit.parse(text)
    except ParseError as exc:
        raise ManifestError(
            f"manifest {path.name} is not valid TOML: {exc}",
            hint="fix the syntax at that line (strings need quotes, tables look like [name])",
        ) from None
    return Manifest(path=path, doc=doc, params=_validate_doc(doc.unwrap()))


def load_manifest(layout: Layout) -> Manifest:
    """Read and validate the workspace's manifest."""
    try:
        text = layout.manifest.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(
            f"cannot read {layout.manifest}: {exc.strerror}", hint="check the file's permissions"
        ) from None
    return parse_manifest(text, layout.manifest)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
