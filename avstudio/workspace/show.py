"""``avstudio show``: the HDF5 tree with shapes, dtypes and attributes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from avstudio.errors import StoreError


def _attrs(obj: Any) -> str:
    items = []
    for k, v in obj.attrs.items():
        if k == "source_metadata":
            continue
        text = v.decode() if isinstance(v, bytes) else str(v.tolist() if hasattr(v, "tolist") else v)
        items.append(f"{k}={text if len(text) < 60 else text[:57] + '...'}")
    return ("  {" + ", ".join(items) + "}") if items else ""


def walk(group: Any, prefix: str = "") -> Iterator[str]:
    """Lines describing ``group`` recursively (external links are followed)."""
    import h5py

    for name in group:
        try:
            obj = group[name]
        except (KeyError, OSError):
            yield f"{prefix}{name}  (dangling link)"
            continue
        if isinstance(obj, h5py.Dataset):
            comp = f" {obj.compression}" if obj.compression else ""
            yield f"{prefix}{name}  {obj.dtype} {obj.shape}{comp}{_attrs(obj)}"
        else:
            yield f"{prefix}{name}/{_attrs(obj)}"
            yield from walk(obj, prefix + "  ")


def show_lines(path: Path) -> list[str]:
    """Describe a workspace's ``store.h5`` (path = workspace dir) or any HDF5 file."""
    import h5py

    from avstudio.workspace.store import _check_schema

    if path.is_dir():
        path = path / "store.h5"
    if not path.is_file():
        raise StoreError(f"no HDF5 store at {path}", hint="pass a workspace directory or an .h5 file")
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError:
        raise StoreError(f"{path} is not a readable HDF5 file", hint="pass a workspace directory or an .h5 file") from None
    with f:
        _check_schema(path, f.attrs)
        return [f"{path}{_attrs(f)}", *walk(f, "  ")]
