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
from tomlkit.exceptions import ParseError, TOMLKitError

from avstudio.errors import ManifestError
from avstudio.files import translate_os_errors
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


def _duplicate_key(text: str, exc: Exception) -> str:
    """``key "name" is set twice (line 5)``: tomlkit names the key, Python's tomllib the line."""
    import re
    import tomllib

    key = re.search(r'Key "(.*)" already exists', str(exc))
    what = f'key "{key.group(1)}" is set twice' if key else str(exc).rstrip(".")
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as strict:
        where = re.search(r"\(at (line \d+)", str(strict))
        if where:
            return f"{what} ({where.group(1)})"
    except Exception:  # noqa: BLE001 - the position is a nicety
        pass
    return what


def parse_manifest(text: str, path: Path) -> Manifest:
    """Parse and validate manifest text (``path`` is used for messages and relative media)."""
    try:
        doc = tomlkit.parse(text)
    except ParseError as exc:
        raise ManifestError(
            f"manifest {path.name} is not valid TOML: {exc}",
            hint="fix the syntax at that line (strings need quotes, tables look like [name])",
        ) from None
    except TOMLKitError as exc:  # KeyAlreadyPresent: the same key twice in one table
        raise ManifestError(
            f"manifest {path.name} is not valid TOML: {_duplicate_key(text, exc)}",
            hint="keep one of the two lines; a key may be set once per table",
        ) from None
    return Manifest(path=path, doc=doc, params=_validate_doc(doc.unwrap()))


_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe\x00\x00", "UTF-32"), (b"\xfe\xff", "UTF-16"),
         (b"\xff\xfe", "UTF-16"))


def decode_manifest(raw: bytes, path: Path) -> str:
    """The manifest's text: UTF-8 as TOML requires (a leading byte-order mark is dropped).

    Raises
    ------
    ManifestError
        The bytes are UTF-16/32 or not UTF-8, naming the first bad byte's line.
    """
    hint = "save it as UTF-8: choose that encoding when saving in your editor, or convert it with iconv -t UTF-8"
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raise ManifestError(f"manifest {path.name} is {name} text; TOML files must be UTF-8", hint=hint)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ManifestError(f"manifest {path.name} is not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line}, "
                            f"column {column}", hint=hint) from None


def load_manifest(layout: Layout) -> Manifest:
    """Read and validate the workspace's manifest."""
    try:
        raw = layout.manifest.read_bytes()
    except OSError as exc:
        raise ManifestError(
            f"cannot read {layout.manifest}: {exc.strerror}", hint="check the file's permissions"
        ) from None
    return parse_manifest(decode_manifest(raw, layout.manifest), layout.manifest)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and ``os.replace``.

    Raises
    ------
    StorageError
        The folder is full, read-only or not writable (the temp file is removed, ``path`` is unchanged).
    """
    tmp = path.with_name(f".{path.name}.tmp")
    data = text.encode("utf-8")
    with translate_os_errors(path.parent, temps=[tmp], needed_bytes=len(data), what=path.name):
        tmp.write_bytes(data)
        os.replace(tmp, path)
