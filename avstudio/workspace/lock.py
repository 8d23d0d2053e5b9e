"""One writer at a time: an advisory ``flock`` on ``.avstudio/lock``.

The kernel drops the lock when the holder dies (crash, ``kill -9``, lost SSH
session), so a stale lock never blocks anyone. The file also holds a JSON
description of the holder (pid, host, command, current stage) for messages
and for the TUI, which attaches to a headless run instead of starting a second
writer.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from avstudio.errors import LockError


class WorkspaceLock:
    """The writer lock of one workspace.

    Parameters
    ----------
    path : Path
        The lock file (``.avstudio/lock``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._info: dict[str, Any] = {}

    def acquire(self, *, command: str | None = None) -> None:
        """Take the lock or raise :class:`LockError` naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = read_holder(self.path) or {}
            raise LockError(
                f"another avstudio run is writing to this workspace ({describe(holder)})",
                hint=f"wait for it to finish, follow it with `avstudio tui`, or stop it with "
                f"`kill -INT {holder.get('pid', '<pid>')}`",
            ) from None
        self._fd = fd
        self._info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "command": command or " ".join(["avstudio", *sys.argv[1:]]),
            "stage": None,
        }
        self._write()

    def set_stage(self, stage: str | None) -> None:
        """Record which stage the holder is running (read by status and the TUI)."""
        self._info["stage"] = stage
        self._write()

    def _write(self) -> None:
        assert self._fd is not None
        data = json.dumps(self._info).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "WorkspaceLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(path: Path) -> dict[str, Any] | None:
    """The description of the process holding the lock, or None if nobody holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raw = os.pread(fd, 65536, 0)
            try:
                return json.loads(raw.decode() or "{}")
            except ValueError:
                return {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def describe(holder: dict[str, Any]) -> str:
    """``pid 123 on host, running features, started 12:01:05``."""
    parts = [f"pid {holder.get('pid', '?')}"]
    if holder.get("host"):
        parts[0] += f" on {holder['host']}"
    if holder.get("stage"):
        parts.append(f"running {holder['stage']}")
    if holder.get("started"):
        parts.append("started " + time.strftime("%H:%M:%S", time.localtime(holder["started"])))
    return ", ".join(parts)
