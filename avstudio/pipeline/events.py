"""Plain event dataclasses: the one stream both front-ends consume.

The runner emits these; the CLI turns them into Rich progress bars, log lines
or JSON lines, the TUI re-posts them as Textual messages, and every run appends
them to ``logs/events.jsonl`` so a TUI can follow a headless run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass
class Event:
    """Base of all runner events."""

    kind: ClassVar[str] = "event"
    run_id: str = ""
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    pid: int = 0
    targets: list[str] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)


@dataclass
class StageStarted(Event):
    kind: ClassVar[str] = "stage_started"
    stage: str = ""
    reason: str = ""


@dataclass
class Progress(Event):
    kind: ClassVar[str] = "progress"
    stage: str = ""
    done: float = 0
    total: float | None = None
    unit: str = "frames"
    rate: float | None = None
    """Units per second since the stage started."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Live numbers of the stage (``train``: ``train_loss``, ``val_loss`` of the last epoch)."""


@dataclass
class Log(Event):
    kind: ClassVar[str] = "log"
    stage: str = ""
    level: str = "info"
    message: str = ""


@dataclass
class StageFinished(Event):
    kind: ClassVar[str] = "stage_finished"
    stage: str = ""
    seconds: float = 0.0


@dataclass
class StageFailed(Event):
    kind: ClassVar[str] = "stage_failed"
    stage: str = ""
    message: str = ""
    traceback: str = ""
    interrupted: bool = False


@dataclass
class StageSkipped(Event):
    kind: ClassVar[str] = "stage_skipped"
    stage: str = ""
    reason: str = ""


@dataclass
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    ok: bool = True
    interrupted: bool = False
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (RunStarted, StageStarted, Progress, Log, StageFinished, StageFailed, StageSkipped, RunFinished)
}


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "float": (int, float), "int": (int,), "bool": (bool,), "float | None": (int, float, type(None)),
    "list[str]": (list,), "dict[str, float]": (dict,),
}
"""What a field of each annotation may hold when read back from the log (ints stand in for floats)."""


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from :meth:`Event.to_dict` output (unknown fields ignored).

    Raises
    ------
    KeyError
        Not an event (no or an unknown ``event``).
    TypeError
        A field holds a value of the wrong type (a damaged or hand-edited log line).
    """
    if not isinstance(data, dict):
        raise TypeError(f"an event is a JSON object, not {type(data).__name__}")
    cls = EVENT_TYPES[data["event"]]
    fields = cls.__dataclass_fields__
    values = {k: v for k, v in data.items() if k in fields}
    for name, value in values.items():
        allowed = _FIELD_TYPES.get(str(fields[name].type))
        if allowed and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
            raise TypeError(f"{cls.kind}.{name} is {type(value).__name__}")
    return cls(**values)
