"""The HDF5 store: ``store.h5`` plus one committed file per stage.

``store.h5`` is the single entry point users and tools open: its root carries
the schema version and each stage appears as a group (an HDF5 external link to
``store/<stage>.h5``), so ``h5py.File("store.h5")["features/brightness"]``
just works. A stage writes its group into ``.avstudio/tmp/<stage>.h5`` and the
file is moved into place with ``os.replace`` only on success. HDF5 is not
journaled (a process killed mid-write can leave a file unreadable) and never
shrinks on delete, so this design is what keeps an interrupted or failed stage
from touching earlier outputs, and keeps reruns from growing the store.
Readers never see a half-written file, so the TUI can read while a run writes.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from avstudio import __version__
from avstudio.errors import StoreError
from avstudio.workspace.layout import Layout

SCHEMA_VERSION = 1
"""Bump when the store layout changes meaning; newer stores are refused."""

_RERUN = "rerun the stage that wrote it: avstudio run --force {stage}"


def _h5py():
    import h5py

    return h5py


def _check_schema(path: Path, attrs: Any) -> None:
    version = int(attrs.get("schema_version", 0))
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer avstudio (store schema {version}; "
            f"this avstudio {__version__} reads schema {SCHEMA_VERSION})",
            hint="upgrade avstudio (pip install -U avstudio) to open this workspace",
        )


class Store:
    """Access to a workspace's HDF5 store.

    Parameters
    ----------
    layout : Layout
        The workspace's paths.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    # -- reading -----------------------------------------------------------------
    def has(self, stage: str) -> bool:
        return self.layout.stage_file(stage).is_file()

    def committed(self, stage: str) -> dict[str, Any]:
        """What the committed file of ``stage`` says it was made from.

        Returns
        -------
        dict
            ``fingerprint`` (str or None for files from before it was
            recorded) and ``parts`` (the fingerprint's parts, or None).

        Raises
        ------
        StoreError
            The file is unreadable (damaged), lacks the stage's group, or was
            written by a newer store schema.
        """
        import json

        path = self.layout.stage_file(stage)
        with self._open(path) as f:
            _check_schema(path, f.attrs)
            if stage not in f:
                raise StoreError(f"{path} holds no {stage} group", hint=_RERUN.format(stage=stage))
            attrs = f[stage].attrs
            fp = attrs.get("fingerprint")
            parts = attrs.get("parts")
        try:
            parts = json.loads(parts) if parts is not None else None
        except ValueError:
            parts = None
        return {"fingerprint": None if fp is None else str(fp), "parts": parts}

    def check_schema(self) -> None:
        """Refuse a store with any file written by a newer schema; damaged files pass (a run replaces them)."""
        for path in [self.layout.store, *sorted(self.layout.store_dir.glob("*.h5"))]:
            try:
                f = self._open(path) if path.is_file() else None
            except StoreError:
                continue
            if f is not None:
                with f:
                    _check_schema(path, f.attrs)

    def _open(self, path: Path):
        h5py = _h5py()
        try:
            return h5py.File(path, "r", locking=False)
        except OSError:
            stage = path.stem if path.parent == self.layout.store_dir else "STAGE"
            raise StoreError(f"{path} is damaged (not a readable HDF5 file)",
                             hint=_RERUN.format(stage=stage)) from None

    @contextmanager
    def read(self, stage: str) -> Iterator[Any]:
        """Open the committed output group of ``stage`` read-only.

        Yields
        ------
        h5py.Group
            The group ``/<stage>`` of ``store/<stage>.h5``.
        """
        path = self.layout.stage_file(stage)
        if not path.is_file():
            raise StoreError(
                f"the store has no {stage} output yet", hint=f"run `avstudio run {stage}` first"
            )
        with self._open(path) as f:
            _check_schema(path, f.attrs)
            yield f[stage]

    @contextmanager
    def open_root(self) -> Iterator[Any]:
        """Open ``store.h5`` read-only (stage groups resolve through external links)."""
        if not self.layout.store.is_file():
            raise StoreError(
                f"no store at {self.layout.store}", hint="run `avstudio init` to create the workspace"
            )
        with self._open(self.layout.store) as f:
            _check_schema(self.layout.store, f.attrs)
            yield f

    # -- writing (only under the workspace lock) ---------------------------------------
    @contextmanager
    def write(self, stage: str) -> Iterator[Any]:
        """Write the outputs of ``stage``; committed only if the block succeeds.

        Yields
        ------
        h5py.Group
            An empty group ``/<stage>`` in a temporary file. On normal exit the
            file replaces ``store/<stage>.h5`` atomically; on any exception it is
            deleted and the previous output stays as it was.
        """
        from avstudio.files import discard_h5, translate_os_errors

        h5py = _h5py()
        self.check_schema()
        self.layout.ensure_dirs()
        tmp = self.layout.tmp_dir / f"{stage}.h5"
        final = self.layout.stage_file(stage)
        tmp.unlink(missing_ok=True)
        previous = final.stat().st_size if final.is_file() else None
        with translate_os_errors(self.layout.tmp_dir, temps=[tmp], needed_bytes=previous, what=f"store/{stage}.h5"):
            # no chunk cache: a write that fails (disk full) raises in the stage's own call; a cached chunk would
            # fail later, while h5py frees a dataset, which HDF5 survives only to crash at the next close
            f = h5py.File(tmp, "w", locking=False, rdcc_nbytes=0)
            try:
                f.attrs["schema_version"] = SCHEMA_VERSION
                f.attrs["avstudio_version"] = __version__
                f.attrs["stage"] = stage
                f.attrs["written"] = time.strftime("%Y-%m-%dT%H:%M:%S")
                yield f.create_group(stage)
                f.close()
            except BaseException:
                discard_h5(f)  # HDF5 cannot close a file whose write failed; the temp goes with the error
                raise
            os.replace(tmp, final)
        self.write_root()

    def write_root(self) -> None:
        """(Re)write ``store.h5``: schema attributes and a link to every committed stage."""
        h5py = _h5py()
        self.layout.ensure_dirs()
        tmp = self.layout.tmp_dir / "store.h5"
        created = time.strftime("%Y-%m-%dT%H:%M:%S")
        if self.layout.store.is_file():
            try:
                old = self._open(self.layout.store)
            except StoreError:
                old = None  # damaged: it only holds links, rebuilt below
            if old is not None:
                with old:
                    _check_schema(self.layout.store, old.attrs)
                    created = str(old.attrs.get("created", created))
        from avstudio.files import discard_h5, translate_os_errors

        with translate_os_errors(self.layout.tmp_dir, temps=[tmp], what="store.h5"):
            f = h5py.File(tmp, "w", locking=False)
            try:
                f.attrs["schema_version"] = SCHEMA_VERSION
                f.attrs["avstudio_version"] = __version__
                f.attrs["created"] = created
                for path in sorted(self.layout.store_dir.glob("*.h5")):
                    f[path.stem] = h5py.ExternalLink(f"store/{path.name}", f"/{path.stem}")
                f.close()
            except BaseException:
                discard_h5(f)
                raise
            os.replace(tmp, self.layout.store)


def chunked_dataset(group: Any, name: str, shape: tuple[int, ...], dtype: Any, *, rows: int = 64,
                    compression: str | None = "lzf", **attrs: Any) -> Any:
    """Create a resizable, chunked (and compressed) dataset growing along axis 0.

    LZF (built into h5py) compresses frames several times over at close to
    memory speed; gzip is 2-3x slower for a little less space. Float audio
    barely compresses and is stored with ``compression=None``.

    Parameters
    ----------
    group : h5py.Group
    name : str
    shape : tuple of int
        Shape of one row, e.g. ``(h, w, 3)`` for frames; the dataset starts at 0 rows.
    rows : int
        Rows per HDF5 chunk.
    """
    ds = group.create_dataset(
        name,
        shape=(0, *shape),
        maxshape=(None, *shape),
        dtype=dtype,
        chunks=(max(1, rows), *shape),
        compression=compression,
    )
    ds.attrs.update(attrs)
    return ds


def append(ds: Any, rows: Any) -> None:
    """Append ``rows`` (an array with ``ds.shape[1:]`` rows) to a chunked dataset."""
    n = ds.shape[0]
    ds.resize(n + len(rows), axis=0)
    ds[n:] = rows
