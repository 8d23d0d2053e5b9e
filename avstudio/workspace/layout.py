"""Where things live inside a workspace directory.

::

    avstudio.toml        the manifest (hand-edited; avstudio keeps your comments)
    store.h5             the HDF5 store: one root file whose groups link to store/<stage>.h5
    store/<stage>.h5     each stage's committed outputs (replaced atomically on success)
    outputs/             user-facing results (sonified.wav, sonified.mp4, painted.mp4, ...)
    checkpoints/<name>/  mapper checkpoints (config.json, model.safetensors, metrics.json)
    logs/events.jsonl    every run's events, one JSON object per line
    .avstudio/           recorded state (state.json), the writer lock, in-progress temp files
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from avstudio.errors import WorkspaceError

MANIFEST_NAME = "avstudio.toml"


@dataclass(frozen=True)
class Layout:
    """Paths of one workspace.

    Parameters
    ----------
    root : Path
        The workspace directory (absolute).
    """

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def store(self) -> Path:
        return self.root / "store.h5"

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    @property
    def state_dir(self) -> Path:
        return self.root / ".avstudio"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "lock"

    @property
    def tmp_dir(self) -> Path:
        return self.state_dir / "tmp"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def event_log(self) -> Path:
        return self.logs_dir / "events.jsonl"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def stage_file(self, stage: str) -> Path:
        """The committed HDF5 file of ``stage``."""
        return self.store_dir / f"{stage}.h5"

    def ensure_dirs(self) -> None:
        """Create the directories avstudio keeps its state in (``outputs/`` is made by the stages writing it)."""
        from avstudio.files import storage_error

        for path in (self.store_dir, self.state_dir, self.tmp_dir, self.logs_dir):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise storage_error(exc, path) or WorkspaceError(
                    f"cannot create {path}: {exc.strerror}",
                    hint="check the workspace folder's permissions and free space") from None

    def remove_stale_temps(self) -> list[Path]:
        """Delete the temporary files of writers that died; call only while holding the writer lock.

        Removed: everything in ``.avstudio/tmp/`` (stage files in progress),
        ``outputs/.<name>.<random>.part.<ext>`` (videos and WAVs in progress),
        ``outputs/.<name>.<pid>.tmp`` of processes that are gone, and the
        ``*.tmp`` files of ``.avstudio/`` (recorded state in progress). Links are
        removed themselves, folders never. Returns what was removed.
        """
        from avstudio.files import remove_stale_temps

        def dead_pid_temp(name: str) -> bool:
            found = _PID_TEMP.match(name)
            return bool(found) and not _alive(int(found.group(1)))

        return remove_stale_temps([
            (self.tmp_dir, lambda name: True),
            (self.outputs, lambda name: bool(_PART.match(name)) or dead_pid_temp(name)),
            (self.state_dir, lambda name: name.endswith(".tmp") and (not _PID_TEMP.match(name) or dead_pid_temp(name))),
        ])


_PART = re.compile(r"^\..+\.part(\.[A-Za-z0-9]+)?$")
"""A media output in progress (:func:`avstudio.media.encode.atomic_output`)."""
_PID_TEMP = re.compile(r"^\..+\.(\d+)\.tmp$")
"""A file in progress named after its writer's pid (contact sheets, the holder file)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def find_layout(directory: str | Path | None = None) -> Layout:
    """The layout of the workspace in ``directory`` (default: the current directory).

    Raises
    ------
    WorkspaceError
        If the directory does not exist or holds no ``avstudio.toml``.
    """
    root = Path(directory or ".").expanduser().resolve()
    if not root.is_dir():
        raise WorkspaceError(
            f"no such directory: {root}", hint="pass an existing workspace directory (create one with `avstudio init`)"
        )
    layout = Layout(root)
    if not layout.manifest.is_file():
        raise WorkspaceError(
            f"not an avstudio workspace: {root} (no {MANIFEST_NAME})",
            hint="create one with `avstudio init DIR --template sonify --video PATH`, "
            "or point at one with -C DIR",
        )
    return layout
