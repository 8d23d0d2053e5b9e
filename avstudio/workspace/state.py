"""Recorded state of each stage, kept outside HDF5 in ``.avstudio/state.json``.

Per stage: what its committed output was made from (fingerprint and the parts
that went into it, so staleness can be explained) and how its last run ended.
Written atomically by the single writer; read by anyone (status, the TUI).
A file that is not this shape (edited by hand, damaged on disk) is refused in
one line naming what is wrong, never half-read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from avstudio.errors import WorkspaceError
from avstudio.files import translate_os_errors

STATE_SCHEMA = 1

_RECORD_TYPES: dict[str, dict[str, tuple[type, ...]]] = {
    "done": {"fingerprint": (str,), "parts": (dict,)},
    "last_run": {"status": (str,), "seconds": (int, float), "finished": (int, float), "fingerprint": (str,),
                 "error": (str,)},
}
"""Per record of a stage: the type each known field must have (None is always allowed)."""


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")


def _damaged(path: Path, what: str) -> WorkspaceError:
    return WorkspaceError(
        f"{path} is damaged: {what}",
        hint=f"delete it: rm {path}; the results in store/ are kept and `avstudio status` checks them again",
    )


def _check_shape(path: Path, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _damaged(path, f'expected an object {{"stages": {{...}}}}, found {_kind(data)}')
    schema = data.get("schema", STATE_SCHEMA)
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise _damaged(path, f'"schema" is {_kind(schema)}, not a number')
    if schema > STATE_SCHEMA:
        raise WorkspaceError(f"{path} was written by a newer avstudio (state schema {schema}, this one reads "
                             f"{STATE_SCHEMA})", hint="upgrade avstudio (pip install -U avstudio)")
    stages = data.setdefault("stages", {})
    if not isinstance(stages, dict):
        raise _damaged(path, f'"stages" is {_kind(stages)}, not an object of stage records')
    for name, record in stages.items():
        if not isinstance(record, dict):
            raise _damaged(path, f'the record of stage "{name}" is {_kind(record)}, not an object')
        for key, fields in _RECORD_TYPES.items():
            entry = record.get(key)
            if entry is None:
                continue
            if not isinstance(entry, dict):
                raise _damaged(path, f'"{name}.{key}" is {_kind(entry)}, not an object')
            for field, types in fields.items():
                value = entry.get(field)
                if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
                    raise _damaged(path, f'"{name}.{key}.{field}" is {_kind(value)}')
    return data


def load_state(path: Path) -> dict[str, Any]:
    """``{"stages": {name: {"done": {...}, "last_run": {...}}}}``; empty if the file is absent.

    Raises
    ------
    WorkspaceError
        The file cannot be read, is not UTF-8 JSON, or is not of this shape.
    """
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return {"schema": STATE_SCHEMA, "stages": {}}
    except OSError as exc:
        raise WorkspaceError(f"cannot read {path}: {exc.strerror or exc}",
                             hint=f"check its permissions, or delete it to start the record over: rm -r {path}"
                             ) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _damaged(path, f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not UTF-8 text") from None
    except ValueError as exc:
        raise _damaged(path, "empty file" if not raw.strip() else f"not JSON ({exc})") from None
    return _check_shape(path, data)


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically (a temporary file, flushed to disk, then renamed over ``path``).

    Raises
    ------
    StorageError
        The disk is full, the folder read-only or not writable; the previous
        file stays as it was and the temporary file is removed.
    """
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(state, indent=1, sort_keys=True)
    with translate_os_errors(path.parent, temps=[tmp], needed_bytes=len(text), what=path.name):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # a crash after the rename never leaves an empty file
        os.replace(tmp, path)


def update_stage(path: Path, stage: str, **entries: Any) -> None:
    """Merge ``entries`` (e.g. ``done=...``, ``last_run=...``) into one stage's record."""
    state = load_state(path)
    state["stages"].setdefault(stage, {}).update(entries)
    save_state(path, state)
