"""The stage interface and the context a running stage gets."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from avstudio.cancel import NEVER, CancelToken
from avstudio.pipeline.events import Event, Log, Progress

if TYPE_CHECKING:
    from avstudio.workspace.workspace import Workspace


class Stage:
    """One step of a pipeline; subclasses live one per module in ``avstudio.stages``.

    Class attributes
    ----------------
    name : str
        Stage name used on the command line and in the store (``/<name>``).
    VERSION : int
        Bumped by hand when the stage's output changes meaning (part of the fingerprint).
    deps : tuple of str
        Upstream stages.
    params : tuple of str
        Manifest keys the stage reads: ``"table.key"`` or ``"table.*"`` for a whole table.
    description : str
        One line for ``status`` and the TUI.
    """

    name: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    deps: ClassVar[tuple[str, ...]] = ()
    params: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""

    def inputs(self, ws: "Workspace") -> dict[str, Any]:
        """Identities of files (or other things) outside the store the output depends on."""
        return {}

    def outputs(self, ws: "Workspace") -> list[Path]:
        """Files outside the store the stage writes (missing ones make it ``missing``)."""
        return []

    def run(self, ctx: "StageContext") -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class StageContext:
    """What a running stage may use.

    Attributes
    ----------
    ws : Workspace
        The workspace (manifest, store, layout).
    out : h5py.Group
        The group to write this stage's outputs into (committed on success).
    cancel : CancelToken
        Checked by the stage between chunks.
    emit : callable
        Sends an event to the runner.
    force : bool
        The run was asked to redo this stage (``run --force``): a stage that
        keeps work across runs (paint's resume chunks) starts over.
    """

    ws: "Workspace"
    stage: str
    out: Any
    cancel: CancelToken = NEVER
    emit: Callable[[Event], None] = lambda e: None
    run_id: str = ""
    force: bool = False
    _started: float = field(default_factory=time.monotonic)
    _last_progress: float = 0.0
    committed: list[Callable[[], None]] = field(default_factory=list)

    def on_commit(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` once the stage's output is committed to the store (e.g. clean-up)."""
        self.committed.append(fn)

    def param(self, dotted: str) -> Any:
        return self.ws.manifest.get(dotted)

    def log(self, message: str, *, level: str = "info") -> None:
        self.emit(Log(run_id=self.run_id, stage=self.stage, level=level, message=message))

    def warn(self, message: str) -> None:
        self.log(message, level="warning")

    def progress(self, done: float, total: float | None, *, unit: str = "frames", force: bool = False,
                 metrics: dict[str, float] | None = None) -> None:
        """Report progress (throttled to 10 events per second unless ``force``), and check cancel."""
        self.cancel.check()
        now = time.monotonic()
        if not force and now - self._last_progress < 0.1 and (total is None or done < total):
            return
        self._last_progress = now
        elapsed = now - self._started
        rate = done / elapsed if elapsed > 0 else None
        self.emit(Progress(run_id=self.run_id, stage=self.stage, done=done, total=total, unit=unit, rate=rate,
                           metrics=dict(metrics or {})))
