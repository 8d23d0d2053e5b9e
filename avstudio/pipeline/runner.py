"""Runs the stale stages a request needs, emitting events; the one writer of a workspace."""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Sequence

from avstudio.cancel import CancelToken
from avstudio.errors import AvStudioError, Cancelled
from avstudio.pipeline import graph
from avstudio.pipeline.eventlog import EventLogWriter
from avstudio.pipeline.events import (
    Event,
    RunFinished,
    RunStarted,
    StageFailed,
    StageFinished,
    StageSkipped,
    StageStarted,
)
from avstudio.pipeline.fingerprint import canonical, fingerprint
from avstudio.pipeline.runs import new_run_id
from avstudio.pipeline.stage import StageContext
from avstudio.workspace.lock import WorkspaceLock
from avstudio.workspace.state import update_stage
from avstudio.workspace.workspace import Workspace


@dataclass
class RunResult:
    """How a run ended."""

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    interrupted: bool = False
    signal: int | None = None
    """The signal that stopped the run (set by the CLI), if any."""

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed else 0


def run(
    ws: Workspace,
    targets: Sequence[str] = (),
    *,
    force: bool = False,
    downstream: bool = False,
    on_event: Callable[[Event], None] = lambda e: None,
    cancel: CancelToken | None = None,
    command: str | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Run the stages needed for ``targets`` (all stages if empty).

    Parameters
    ----------
    ws : Workspace
    targets : sequence of str
        Stage names; their stale ancestors run first.
    force : bool
        Rerun the targets (all stages if none) even when fresh.
    downstream : bool
        Also run (or with ``force``, rerun) everything that depends on the targets.
    on_event : callable
        Receives every event (also appended to ``logs/events.jsonl``).
    cancel : CancelToken, optional
        Checked between stages and by stages per chunk; a cancelled stage is
        marked interrupted and its previous output is left intact.
    run_id : str, optional
        The run's id (a detached run gets it from the process that started it).

    Raises
    ------
    LockError
        If another process is writing to the workspace.
    """
    cancel = cancel or CancelToken()
    deps = ws.deps
    order = graph.plan(deps, targets, downstream=downstream)
    to_force = graph.forced(deps, targets, force=force, downstream=downstream)
    run_id = run_id or new_run_id()
    lock = WorkspaceLock(ws.layout.lock_file)
    lock.acquire(command=command, run_id=run_id)
    try:
        ws.store.check_schema()  # before anything is written
    except BaseException:
        lock.release()
        raise
    ws.layout.ensure_dirs()
    log = EventLogWriter(ws.layout.event_log)
    result = RunResult()
    started = time.monotonic()

    def emit(event: Event) -> None:
        event.run_id = run_id
        log.write(event)
        on_event(event)

    try:
        emit(RunStarted(pid=os.getpid(), targets=list(targets), plan=order))
        failed_upstream: dict[str, str] = {}
        for name in order:
            if result.interrupted:
                break
            bad = next((d for d in graph.ancestors(deps, name) if d in failed_upstream), None)
            if bad:
                failed_upstream[name] = bad
                result.skipped.append(name)
                emit(StageSkipped(stage=name, reason=f"upstream {bad} failed"))
                continue
            (status,) = ws.status(only=name)
            if status.state == "fresh" and name not in to_force:
                result.skipped.append(name)
                emit(StageSkipped(stage=name, reason="fresh"))
                continue
            reason = "forced" if name in to_force and status.state == "fresh" else "; ".join(status.reasons)
            outcome = _run_stage(ws, name, reason, emit, cancel, lock, run_id, force=name in to_force)
            if outcome == "done":
                result.ran.append(name)
            elif outcome == "interrupted":
                result.interrupted = True
            else:
                result.failed.append(name)
                failed_upstream[name] = name
            if cancel.cancelled:
                result.interrupted = True
        emit(RunFinished(ok=not result.failed and not result.interrupted, interrupted=result.interrupted,
                         seconds=time.monotonic() - started, failed=result.failed))
    finally:
        log.close()
        lock.release()
    return result


def _run_stage(ws: Workspace, name: str, reason: str, emit: Callable[[Event], None],
               cancel: CancelToken, lock: WorkspaceLock, run_id: str, *, force: bool = False) -> str:
    stage = ws.stages[name]
    parts = ws.parts(name)
    fp = fingerprint(parts)
    lock.set_stage(name)
    emit(StageStarted(stage=name, reason=reason))
    t0 = time.monotonic()
    status, message, tb = "done", "", ""
    try:
        with ws.store.write(name) as out:
            ctx = StageContext(ws=ws, stage=name, out=out, cancel=cancel, emit=emit, run_id=run_id, force=force)
            out.attrs["fingerprint"] = fp
            out.attrs["parts"] = canonical(parts)
            stage.run(ctx)
            cancel.check()
        for fn in ctx.committed:
            fn()
    except Cancelled:
        status, message = "interrupted", "interrupted by user; previous output kept"
    except AvStudioError as exc:
        status, message = "failed", exc.one_line()
        tb = traceback.format_exc()
    except Exception as exc:  # a bug: keep the traceback for AVSTUDIO_DEBUG / the TUI
        status, message = "failed", f"internal error in stage {name}: {type(exc).__name__}: {exc}"
        tb = traceback.format_exc()
    finally:
        lock.set_stage(None)
    seconds = time.monotonic() - t0
    last = {"status": status, "seconds": seconds, "finished": time.time(), "fingerprint": fp,
            "error": message or None}
    if status == "done":
        update_stage(ws.layout.state_file, name, done={"fingerprint": fp, "parts": parts}, last_run=last)
        emit(StageFinished(stage=name, seconds=seconds))
    else:
        update_stage(ws.layout.state_file, name, last_run=last)
        emit(StageFailed(stage=name, message=message, traceback=tb, interrupted=status == "interrupted"))
    return status
