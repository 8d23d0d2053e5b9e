"""Runs as processes: start one detached, find the running one, follow, stop, read its events.

A run is one ``avstudio run`` process, the workspace's only writer. Front-ends
(the CLI's ``attach``/``stop``/``logs``, the TUI, the browser view) are clients:
they read the holder file and the event log (``logs/events.jsonl``) and send
stop requests, so closing any of them never stops the work. A detached run is
started in its own session (``setsid``), so it outlives the terminal, SSH,
tmux and the TUI that started it; its output goes to ``logs/run-<id>.log``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, Sequence

from avstudio.errors import LockError
from avstudio.files import translate_os_errors
from avstudio.pipeline.eventlog import EventLogFollower
from avstudio.pipeline.events import Event

EXIT_CODES = {"ok": 0, "failed": 1, "interrupted": 130}


def new_run_id() -> str:
    """A fresh 12-hex-digit run id."""
    return uuid.uuid4().hex[:12]


def run_log(layout: Any, run_id: str) -> Path:
    """``logs/run-<id>.log``: what a detached run printed."""
    return layout.logs_dir / f"run-{run_id}.log"


def current_run(layout: Any) -> dict[str, Any] | None:
    """The holder of the workspace (the running run) or None."""
    from avstudio.workspace.lock import read_holder

    holder = read_holder(layout.lock_file)
    return holder or None


def start_detached(layout: Any, stages: Sequence[str], *, force: bool = False, downstream: bool = False,
                   wait: float = 0.4) -> dict[str, Any]:
    """Start ``avstudio run`` in its own session, output to ``logs/run-<id>.log``.

    Waits up to ``wait`` seconds for the run to take the lock, so a run that
    cannot start (another run holds the workspace, a bad manifest) is reported
    at once.

    Returns
    -------
    dict
        ``run_id``, ``pid``, ``log`` (path).

    Raises
    ------
    LockError
        Another run holds the workspace, or the new run ended at once (the
        message is the last line of its log).
    """
    from avstudio.workspace.lock import busy_error

    holder = current_run(layout)
    if holder:
        raise busy_error(holder)
    run_id = new_run_id()
    log_path = run_log(layout, run_id)
    args = [sys.executable, "-m", "avstudio", "run", *stages, "-C", str(layout.root), "--run-id", run_id]
    args += ["--force"] if force else []
    args += ["--downstream"] if downstream else []
    with translate_os_errors(layout.logs_dir, what=log_path.name):  # read-only, full: one line, nothing started
        layout.logs_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")
    with log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(args, stdin=devnull, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=str(layout.root), env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            last = _last_line(log_path)
            raise LockError(f"the run ended at once (exit {code}): {last or 'no output'}",
                            hint=f"see {log_path}")
        holder = current_run(layout)
        if holder and holder.get("run_id") == run_id:
            break
        time.sleep(0.02)
    return {"run_id": run_id, "pid": proc.pid, "log": str(log_path)}


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].removeprefix("error: ") if lines else ""


def request_stop(holder: dict[str, Any]) -> int:
    """Ask a run to stop at its next chunk (SIGINT, as Ctrl-C in its terminal would).

    Returns
    -------
    int
        The pid signalled.

    Raises
    ------
    LockError
        The holder runs on another host, or has no pid, or is already gone.
    """
    pid = holder.get("pid")
    host = holder.get("host")
    if not isinstance(pid, int) or pid <= 0:
        raise LockError("the run holding the lock did not record its pid",
                        hint="stop it from its own terminal with Ctrl-C")
    if host and host != socket.gethostname():
        raise LockError(f"the run (pid {pid}) is on another host: {host}",
                        hint=f"stop it there: ssh {host} kill -INT {pid}")
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        raise LockError(f"the run (pid {pid}) has already ended") from None
    except PermissionError:
        raise LockError(f"not allowed to signal pid {pid}",
                        hint="it belongs to another user; stop it from its own terminal") from None
    return pid


def run_ids(layout: Any) -> list[str]:
    """Every run id in the event log, oldest first."""
    follower = EventLogFollower(layout.event_log)
    return [e.run_id for e in follower.poll() if e.kind == "run_started"]


def events_of(layout: Any, run_id: str) -> list[Event]:
    """The events one run has written so far."""
    return [e for e in EventLogFollower(layout.event_log).poll() if e.run_id == run_id]


def follow(layout: Any, run_id: str, *, poll: float = 0.2) -> Iterator[Event]:
    """The events of run ``run_id`` from its start, then live, until it finishes (or its process is gone)."""
    follower = EventLogFollower(layout.event_log)
    while True:
        running = (current_run(layout) or {}).get("run_id") == run_id  # before polling: what it wrote before
        for event in follower.poll():                                # it let go is in this poll
            if event.run_id == run_id:
                yield event
                if event.kind == "run_finished":
                    return
        if not running:
            return
        time.sleep(poll)


def exit_code(events: Sequence[Event]) -> int:
    """A run's exit code from its events: 0 ok, 130 interrupted, 1 failed or gone without finishing."""
    finished = [e for e in events if e.kind == "run_finished"]
    if not finished:
        return 1
    last = finished[-1]
    return 130 if last.interrupted else (0 if last.ok else 1)
