"""Tiny file systems for tests of full disks and read-only workspaces (Linux, root only; skipped elsewhere).

Usage::

    from tests.tmpfs import fill, read_only_view, tiny_disk  # noqa: F401 (fixtures)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def _mount(*args: str) -> bool:
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def tiny_disk(tmp_path):
    """``tiny_disk(size="4m")`` -> a folder on a fresh tmpfs of that size (unmounted after the test)."""
    mounted: list[Path] = []

    def make(size: str = "4m") -> Path:
        path = tmp_path / f"disk{len(mounted)}"
        path.mkdir()
        if not _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)):
            pytest.skip("mounting a tmpfs is not allowed here (needs root on Linux)")
        mounted.append(path)
        return path

    yield make
    for path in reversed(mounted):
        _umount(path)


@pytest.fixture
def read_only_view(tmp_path):
    """``read_only_view(folder)`` -> the same folder seen through a read-only bind mount."""
    mounted: list[Path] = []

    def make(folder: Path) -> Path:
        view = tmp_path / f"ro{len(mounted)}"
        view.mkdir()
        if not _mount("--bind", str(folder), str(view)):
            pytest.skip("bind mounts are not allowed here (needs root on Linux)")
        mounted.append(view)
        if not _mount("-o", "remount,bind,ro", str(view)):
            pytest.skip("read-only remounts are not allowed here")
        return view

    yield make
    for path in reversed(mounted):
        _umount(path)


def fill(folder: Path, *, leave: int) -> Path:
    """Fill the file system of ``folder`` until about ``leave`` bytes are free; returns the filler file."""
    filler = folder / "filler.bin"
    free = shutil.disk_usage(folder).free
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler
