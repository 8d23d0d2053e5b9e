"""Scales, note quantisation and MIDI <-> Hz conversion."""

from __future__ import annotations

import numpy as np

SCALES: dict[str, tuple[int, ...] | None] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "chromatic": tuple(range(12)),
    "continuous": None,
}
"""Semitone offsets of each scale within an octave; ``None`` means no quantisation."""


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray | float:
    """Equal-tempered frequency of a MIDI note number (69 = A4 = 440 Hz)."""
    return 440.0 * np.exp2((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def scale_notes(scale: str, *, root_note: int, octaves: int) -> np.ndarray | None:
    """Every note of ``scale`` from ``root_note`` up to ``octaves`` octaves above it.

    Returns
    -------
    np.ndarray [shape=(notes,), float64] or None
        Ascending MIDI numbers, both ends included; ``None`` for ``"continuous"``.
    """
    degrees = SCALES[scale]
    if degrees is None:
        return None
    notes = [root_note + 12 * octave + d for octave in range(octaves) for d in degrees]
    notes.append(root_note + 12 * octaves)
    return np.asarray(notes, dtype=np.float64)


def quantise(midi: np.ndarray, notes: np.ndarray | None) -> np.ndarray:
    """Snap fractional MIDI numbers to the nearest allowed note.

    Parameters
    ----------
    midi : np.ndarray [shape=(n,), float64]
        Fractional note numbers.
    notes : np.ndarray [shape=(notes,), float64] or None
        Allowed notes, ascending (from :func:`scale_notes`); ``None`` keeps ``midi``.

    Returns
    -------
    np.ndarray [shape=(n,), float64]
    """
    if notes is None:
        return np.asarray(midi, dtype=np.float64)
    upper = np.clip(np.searchsorted(notes, midi), 1, len(notes) - 1)
    lower = upper - 1
    nearer_lower = (midi - notes[lower]) <= (notes[upper] - midi)
    return np.where(nearer_lower, notes[lower], notes[upper])
