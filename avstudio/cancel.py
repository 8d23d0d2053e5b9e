"""Cooperative cancellation shared by the runner and long computations."""

from __future__ import annotations

import threading

from avstudio.errors import Cancelled


class CancelToken:
    """A flag that long work checks between chunks of frames or epochs.

    Examples
    --------
    >>> token = CancelToken()
    >>> token.check()          # no-op while not cancelled
    >>> token.cancel()
    >>> token.cancelled
    True
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the work to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`~avstudio.errors.Cancelled` if cancellation was asked for."""
        if self._event.is_set():
            raise Cancelled()


NEVER = CancelToken()
"""A token nobody cancels; the default for library calls."""
