"""A workspace: its manifest, store, recorded state, and the status of each stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from avstudio.pipeline.fingerprint import explain, fingerprint
from avstudio.pipeline.stage import Stage
from avstudio.workspace.layout import Layout, find_layout
from avstudio.workspace.lock import read_holder
from avstudio.workspace.manifest import Manifest, load_manifest
from avstudio.workspace.state import load_state
from avstudio.workspace.store import Store

STATES = ("fresh", "stale", "missing", "failed", "interrupted", "running")


@dataclass
class StageStatus:
    """What ``avstudio status`` shows for one stage.

    Attributes
    ----------
    state : str
        One of ``fresh``, ``stale``, ``missing``, ``failed``, ``interrupted``, ``running``.
    reasons : list of str
        Why the stage is not fresh (empty when fresh).
    """

    name: str
    state: str
    reasons: list[str] = field(default_factory=list)
    deps: list[str] = field(default_factory=list)
    description: str = ""
    last_status: str | None = None
    last_seconds: float | None = None
    last_finished: float | None = None
    last_error: str | None = None
    output_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Workspace:
    """An opened workspace. Cheap: reads the manifest and the JSON state only.

    Parameters
    ----------
    directory : str or Path, optional
        The workspace directory (default: current directory).
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.layout: Layout = find_layout(directory)
        self.manifest: Manifest = load_manifest(self.layout)
        self.store = Store(self.layout)

    @property
    def root(self) -> Path:
        return self.layout.root

    @cached_property
    def stages(self) -> dict[str, Stage]:
        from avstudio.stages import pipeline_stages

        return pipeline_stages(self.manifest.template)

    @property
    def deps(self) -> dict[str, tuple[str, ...]]:
        return {name: stage.deps for name, stage in self.stages.items()}

    def reload(self) -> None:
        """Re-read the manifest (after the user edited it)."""
        self.manifest = load_manifest(self.layout)

    # -- fingerprints ----------------------------------------------------------------
    def stage_params(self, stage: Stage) -> dict[str, Any]:
        """The manifest values ``stage`` reads, by dotted key."""
        flat = self.manifest.flat
        out: dict[str, Any] = {}
        for pattern in stage.params:
            if pattern.endswith(".*"):
                prefix = pattern[:-1]
                out.update({k: v for k, v in flat.items() if k.startswith(prefix)})
            elif pattern in flat:
                out[pattern] = flat[pattern]
        return out

    def parts(self, name: str, _memo: dict[str, dict] | None = None) -> dict[str, Any]:
        """The parts of the fingerprint ``name`` would have if it ran now."""
        memo = {} if _memo is None else _memo
        if name not in memo:
            stage = self.stages[name]
            memo[name] = {
                "version": stage.VERSION,
                "params": self.stage_params(stage),
                "upstream": {d: fingerprint(self.parts(d, memo)) for d in stage.deps},
                "inputs": stage.inputs(self),
            }
        return memo[name]

    # -- status ----------------------------------------------------------------------
    def status(self, only: str | None = None) -> list[StageStatus]:
        """The state of every stage (or just ``only``) and why, in pipeline order."""
        state = load_state(self.layout.state_file)["stages"]
        holder = read_holder(self.layout.lock_file)
        running = holder.get("stage") if holder else None
        memo: dict[str, dict] = {}
        out = []
        for name, stage in self.stages.items():
            if only is not None and name != only:
                continue
            rec = state.get(name, {})
            last = rec.get("last_run") or {}
            st = StageStatus(
                name=name,
                state="fresh",
                deps=list(stage.deps),
                description=stage.description,
                last_status=last.get("status"),
                last_seconds=last.get("seconds"),
                last_finished=last.get("finished"),
                last_error=last.get("error"),
                output_bytes=self._output_bytes(name, stage),
            )
            parts = self.parts(name, memo)
            done = rec.get("done")
            missing = [p for p in stage.outputs(self) if not p.exists()]
            if name == running:
                st.state, st.reasons = "running", [f"running now (pid {holder.get('pid')})"]
            elif last.get("status") in ("failed", "interrupted") and last.get("fingerprint") == fingerprint(parts):
                st.state = "interrupted" if last["status"] == "interrupted" else "failed"
                st.reasons = [
                    "last run was interrupted" if last["status"] == "interrupted" else f"last run failed: {last.get('error')}"
                ]
            elif not self.store.has(name):
                st.state, st.reasons = "missing", ["never run" if not done else f"output store/{name}.h5 is missing"]
            elif missing:
                st.state = "missing"
                st.reasons = [f"output {p.relative_to(self.root)} is missing" for p in missing]
            else:
                problem, recorded = self._committed(name, done or {})
                reasons = [problem] if problem else explain(recorded, parts)
                if reasons:
                    st.state, st.reasons = "stale", reasons
            out.append(st)
        return out

    def _committed(self, name: str, done: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
        """The parts the committed stage file was made from: the file is the truth, state.json a cache.

        Returns ``(problem, parts)``: a reason the file cannot count as fresh
        (damaged, newer schema, made from other inputs than recorded), or the
        recorded parts to compare with the current ones.
        """
        from avstudio.errors import StoreError

        try:
            file = self.store.committed(name)
        except StoreError as exc:
            return exc.one_line(), None
        if file["parts"] is not None and fingerprint(file["parts"]) == file["fingerprint"]:
            return None, file["parts"]  # explains the difference even when state.json lags behind
        if file["fingerprint"] is not None and file["fingerprint"] != done.get("fingerprint"):
            return (f"store/{name}.h5 was made from other inputs than .avstudio/state.json records "
                    "(a run stopped between the two)"), None
        return None, done.get("parts")

    def _output_bytes(self, name: str, stage: Stage) -> int:
        paths = [self.layout.stage_file(name), *stage.outputs(self)]
        return sum(p.stat().st_size for p in paths if p.is_file())
