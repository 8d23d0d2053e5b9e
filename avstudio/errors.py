"""The one exception tree of avstudio.

Every error a user can cause derives from :class:`AvStudioError`. Its message is
one line that names the problem; ``hint`` names the fix. The CLI prints
``error: <message> (<hint>)`` and exits non-zero; tracebacks appear only with
``AVSTUDIO_DEBUG=1``.
"""

from __future__ import annotations

import os


def debug() -> bool:
    """True when ``AVSTUDIO_DEBUG`` asks for tracebacks (any value but empty or ``0``)."""
    return os.environ.get("AVSTUDIO_DEBUG", "") not in ("", "0")


class AvStudioError(Exception):
    """Base class for every error avstudio reports to a user.

    Parameters
    ----------
    message : str
        One line naming the problem.
    hint : str, optional
        One line naming the fix.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and the hint as a single line."""
        text = self.message.replace("\n", " ")
        if self.hint:
            text += f" ({self.hint.replace(chr(10), ' ')})"
        return text


class ManifestError(AvStudioError):
    """The manifest is missing, malformed or has an invalid value."""


class WorkspaceError(AvStudioError):
    """A directory is not a workspace, or cannot become one."""


class StorageError(WorkspaceError):
    """A folder cannot be written: the disk is full, the file system is read-only, or access is denied."""


class StoreError(AvStudioError):
    """The HDF5 store is missing, unreadable or from a newer schema."""


class LockError(StoreError):
    """Another process is writing to the workspace."""


class StageError(AvStudioError):
    """A stage failed on its inputs."""


class MediaError(AvStudioError):
    """A media file is missing, unreadable, corrupt or empty."""


class ModelError(AvStudioError):
    """A model, encoder, checkpoint or renderer cannot be found or used."""


class Cancelled(AvStudioError):
    """The user cancelled the run (Ctrl-C, TUI cancel)."""

    exit_code = 130

    def __init__(self, message: str = "cancelled by user", *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
