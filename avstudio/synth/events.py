"""Events: scene cuts and motion peaks become percussive notes, so the track has rhythm.

* A **cut** is a frame whose mean colour jumps from the previous frame's by
  at least ``sonify.cut_threshold`` (Euclidean distance in RGB, 0..441): it
  plays a low hit (noise burst plus a sine at the root note, an octave down).
* A **motion peak** is a frame whose motion is a local maximum, above the
  video's 90th percentile and at least twice the motion minimum span
  (:data:`avstudio.synth.mapping.MIN_SPANS`), and at least
  ``min_event_seconds`` after the previous event: it plays a short high tick
  on the frame's scale note two octaves up.

Each event is a note with an ADSR envelope (:func:`adsr`: attack, decay to a
sustain level, hold, release) that starts on the first sample of its frame,
so a cut is heard exactly where it is seen. Noise comes from a generator seeded
with the frame index: any chunking renders the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from avstudio.synth.pitch import midi_to_hz


@dataclass(frozen=True)
class Event:
    """One percussive note.

    Attributes
    ----------
    frame : int
        The frame it starts on.
    start : int
        Its first sample.
    kind : str
        ``"cut"`` or ``"motion"``.
    note : float
        MIDI note of its pitched part.
    level : float
        Peak level, relative to the tone.
    """

    frame: int
    start: int
    kind: str
    note: float
    level: float


ENVELOPES = {
    # attack, decay, sustain level, hold, release (seconds / level); noise share
    "cut": (0.002, 0.08, 0.3, 0.05, 0.25, 0.6),
    "motion": (0.001, 0.03, 0.0, 0.0, 0.05, 0.3),
}
"""ADSR settings and the share of noise in each kind of event."""


def adsr(n: int, sample_rate: int, attack: float, decay: float, sustain: float, hold: float,
         release: float) -> np.ndarray:
    """An ADSR envelope of ``n`` samples (attack, decay to ``sustain``, hold, release), 0..1.

    Returns
    -------
    np.ndarray [shape=(n,), float32]
    """
    t = np.arange(n) / sample_rate
    a, d, h = attack, attack + decay, attack + decay + hold
    env = np.where(t < a, t / max(a, 1e-9),
                   np.where(t < d, 1.0 - (1.0 - sustain) * (t - a) / max(decay, 1e-9),
                            np.where(t < h, sustain, sustain * np.clip(1.0 - (t - h) / max(release, 1e-9), 0, 1))))
    return env.astype(np.float32)


def detect(avg_color: np.ndarray, motion: np.ndarray, notes: np.ndarray, *, fps: float, sample_rate: int,
           root_note: int, cut_threshold: float, level: float, min_gap_seconds: float,
           motion_span: float) -> list[Event]:
    """The events of a video from its per-frame mean colour and motion.

    Parameters
    ----------
    avg_color : np.ndarray [shape=(n, 3), float]
    motion : np.ndarray [shape=(n,), float]
        Source pixels per frame.
    notes : np.ndarray [shape=(n,), float]
        The tone's note per frame (motion ticks take it).
    level : float
        ``sonify.events_level``; 0 gives no events.

    Returns
    -------
    list of Event, in time order
    """
    from avstudio.synth.timing import frame_to_sample

    n = len(motion)
    if level <= 0 or n < 2:
        return []
    jumps = np.r_[0.0, np.linalg.norm(np.diff(np.asarray(avg_color, float), axis=0), axis=1)]
    cuts = set(np.flatnonzero(jumps >= cut_threshold).tolist())
    m = np.asarray(motion, float)
    high = max(float(np.percentile(m, 90)), 2.0 * motion_span)
    peaks = [k for k in range(1, n - 1) if m[k] >= high and m[k] >= m[k - 1] and m[k] > m[k + 1]]
    gap = max(1, int(round(min_gap_seconds * fps)))
    events: list[Event] = []
    last = -gap
    for k in sorted(cuts | set(peaks)):
        kind = "cut" if k in cuts else "motion"
        if kind == "motion" and k - last < gap:
            continue
        note = root_note - 12.0 if kind == "cut" else float(notes[k]) + 24.0
        start = frame_to_sample(k, fps=fps, sample_rate=sample_rate)
        events.append(Event(k, start, kind, note, level * (1.0 if kind == "cut" else 0.5)))
        last = k
    return events


def render_events(events: list[Event], start: int, stop: int, *, sample_rate: int) -> np.ndarray:
    """The events' samples in ``[start, stop)`` (mono) [shape=(stop - start,), float32]."""
    out = np.zeros(stop - start, np.float32)
    for event in events:
        if event.start >= stop:
            continue
        voice = _voice(event, sample_rate)
        a, b = max(start, event.start), min(stop, event.start + len(voice))
        if a < b:
            out[a - start:b - start] += voice[a - event.start:b - event.start]
    return out


@lru_cache(maxsize=16)
def _voice(event: Event, sample_rate: int) -> np.ndarray:
    """One event's samples from its first on [shape=(length,), float32]; cached, as an event spans blocks."""
    attack, decay, sustain, hold, release, noise = ENVELOPES[event.kind]
    length = int(round((attack + decay + hold + release) * sample_rate))
    env = adsr(length, sample_rate, attack, decay, sustain, hold, release)
    t = np.arange(length) / sample_rate
    tone = np.sin(2 * np.pi * float(midi_to_hz(event.note)) * t)
    hiss = np.random.default_rng(event.frame).uniform(-1, 1, length)
    return (env * ((1 - noise) * tone + noise * hiss) * event.level).astype(np.float32)
