"""One writer at a time: an advisory ``flock`` on ``.avstudio/lock``, taken by writers only.

The kernel drops the lock when the holder dies (crash, ``kill -9``, lost SSH
session), so a stale lock never blocks anyone. Readers (``status``, the TUI,
``attach``) never touch the lock: the writer describes itself (pid, host,
command, run id, current stage) in ``.avstudio/holder.json``, replaced
atomically, and removes it before it unlocks. A reader that finds the file of
a process that is gone (``kill -9``) treats the workspace as free. So any
number of readers polling can never make a writer fail to start (the old
scheme had readers take a shared lock, which a starting writer could hit).
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
from avstudio.files import translate_os_errors


class WorkspaceLock:
    """The writer lock of one workspace.

    Parameters
    ----------
    path : Path
        The lock file (``.avstudio/lock``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.holder_path = holder_file(path)
        self._fd: int | None = None
        self._info: dict[str, Any] = {}

    def acquire(self, *, command: str | None = None, run_id: str | None = None) -> None:
        """Take the lock or raise :class:`LockError` naming the holder.

        The new holder is the workspace's only writer, so it then removes the
        temporary files writers that died (``kill -9``, a crash) left behind.

        Raises
        ------
        LockError
            Another process holds the lock.
        StorageError
            The workspace is read-only, not writable, or full.
        """
        with translate_os_errors(self.path.parent):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise busy_error(read_holder(self.path) or {}) from None
        self._fd = fd
        self._info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "command": command or " ".join(["avstudio", *sys.argv[1:]]),
            "run_id": run_id,
            "stage": None,
        }
        try:
            self._write()
        except BaseException:
            self._unlock()
            raise
        self._recover()

    def _recover(self) -> None:
        """Remove what dead writers left, when this is a workspace's lock (``<root>/.avstudio/lock``)."""
        from avstudio.workspace.layout import Layout

        layout = Layout(self.path.parent.parent)
        if layout.lock_file == self.path:
            layout.remove_stale_temps()

    def set_stage(self, stage: str | None) -> None:
        """Record which stage the holder is running (read by status and the TUI)."""
        self._info["stage"] = stage
        self._write()

    def _write(self) -> None:
        assert self._fd is not None
        tmp = self.holder_path.with_name(f".{self.holder_path.name}.{os.getpid()}.tmp")
        with translate_os_errors(self.holder_path.parent, temps=[tmp], what=self.holder_path.name):
            tmp.write_text(json.dumps(self._info))
            os.replace(tmp, self.holder_path)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.holder_path.unlink(missing_ok=True)  # before unlocking: a new writer's file is never removed
        except OSError:  # a folder in its place (reported when it was written); unlock all the same
            pass
        self._unlock()

    def _unlock(self) -> None:
        if self._fd is None:
            return
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "WorkspaceLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder_file(lock_path: Path) -> Path:
    """Where the writer holding ``lock_path`` describes itself."""
    return Path(lock_path).with_name("holder.json")


def read_holder(path: Path) -> dict[str, Any] | None:
    """The description of the process holding the lock ``path``, or None if nobody holds it.

    Reads ``holder.json`` only (never the lock); a holder on this host whose
    process is gone counts as nobody.
    """
    try:
        holder = json.loads(holder_file(path).read_text() or "{}")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return {}
    if not isinstance(holder, dict):
        return {}
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) and not _alive(holder["pid"]):
        return None
    return holder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def busy_error(holder: dict[str, Any]) -> LockError:
    """The one-line refusal when another run holds the workspace (naming it, and how to follow or stop it)."""
    return LockError(
        f"another avstudio run is writing to this workspace ({describe(holder)})",
        hint=f"wait for it, follow it with `avstudio attach`, or stop it with `avstudio stop` "
             f"(or `kill -INT {holder.get('pid', '<pid>')}`)",
    )


def describe(holder: dict[str, Any]) -> str:
    """``pid 123 on host, running features, started 12:01:05``."""
    parts = [f"pid {holder.get('pid', '?')}"]
    if holder.get("host"):
        parts[0] += f" on {holder['host']}"
    if holder.get("stage"):
        parts.append(f"running {holder['stage']}")
    started = holder.get("started")
    if isinstance(started, (int, float)) and started:
        try:
            parts.append("started " + time.strftime("%H:%M:%S", time.localtime(started)))
        except (OverflowError, OSError, ValueError):  # a damaged holder file: leave the time out
            pass
    return ", ".join(parts)
