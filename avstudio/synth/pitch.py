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


def held_notes(midi: np.ndarray, notes: np.ndarray | None, *, hysteresis: float = 0.3,
               min_frames: int = 1) -> np.ndarray:
    """Snap a pitch curve to the scale with hysteresis and a minimum note length, so notes hold.

    A note changes only when the curve has passed the midpoint to the
    neighbouring note by ``hysteresis`` of that step (a curve wobbling around
    a midpoint stays put), and only after the current note has lasted
    ``min_frames`` frames (no trills); it then jumps to the note nearest the
    curve.

    Parameters
    ----------
    midi : np.ndarray [shape=(n,), float64]
        Fractional note numbers per frame.
    notes : np.ndarray or None
        Allowed notes, ascending (:func:`scale_notes`); ``None`` keeps ``midi`` (continuous pitch).
    hysteresis : float
        Fraction of a scale step beyond the midpoint the curve must go (0 = plain rounding).
    min_frames : int
        Shortest note, in frames.

    Returns
    -------
    np.ndarray [shape=(n,), float64]
    """
    midi = np.asarray(midi, dtype=np.float64)
    if notes is None or len(midi) == 0:
        return midi.copy()
    nearest = quantise(midi, notes)
    index = np.searchsorted(notes, nearest)
    out = np.empty_like(midi)
    current, held = int(index[0]), 0
    last = len(notes) - 1
    for k, value in enumerate(midi):
        if held >= min_frames and index[k] != current:
            note = notes[current]
            if index[k] > current:
                step = notes[current + 1] - note
                move = value > note + step * (0.5 + hysteresis)
            else:
                step = note - notes[current - 1]
                move = value < note - step * (0.5 + hysteresis)
            if move or (index[k] == 0 and current > 0 and value <= notes[0]) or \
                    (index[k] == last and current < last and value >= notes[last]):
                current, held = int(index[k]), 0
        out[k] = notes[current]
        held += 1
    return out
