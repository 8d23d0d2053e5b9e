"""The sonification as a Standard MIDI File (``avstudio export --format midi``), written with mido.

The file holds what the synthesiser plays, so it opens in any DAW:

* track ``tone``, channel 1: one note per run of frames on the same scale
  note (velocity from ``map.amplitude``), and the control curves as
  controllers: pan (CC 10), expression from the amplitude (CC 11), filter
  cutoff from ``map.cutoff`` (CC 74), timbre from ``map.harmonics`` (CC 71),
  and the tremolo depth from ``map.density`` (CC 1, modulation);
* track ``drone``, channel 2: the root note held for the whole video, its
  level (``map.drone``) as expression (CC 11).

Time runs at 120 beats per minute with 480 ticks per beat (960 ticks per
second), so frame ``k`` sits at tick ``round(960 * k / fps)``. Controllers
are written only when their 0..127 value changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TICKS_PER_BEAT = 480
TEMPO = 500_000  # microseconds per beat: 120 bpm
TICKS_PER_SECOND = TICKS_PER_BEAT * 1_000_000 // TEMPO
CONTROLLERS = {"pan": 10, "amplitude": 11, "cutoff": 74, "harmonics": 71, "density": 1}
"""Synthesis parameter -> MIDI controller number on the tone's channel."""


def frame_notes(params: dict[str, np.ndarray], config: Any, fps: float) -> np.ndarray:
    """The MIDI note of each frame, as the synthesiser holds it (rounded for a continuous scale).

    Returns
    -------
    np.ndarray [shape=(n,), int64]
    """
    from avstudio.synth.control import frame_notes as synth_notes

    return np.rint(synth_notes(params["pitch"], config=config, fps=fps)).astype(np.int64)


def to_midi(params: dict[str, np.ndarray], *, fps: float, config: Any) -> Any:
    """A ``mido.MidiFile`` (type 1) of the per-frame synthesis parameters.

    Parameters
    ----------
    params : dict[str, np.ndarray [shape=(n,), float]]
        0..1 parameters (``Synth.frame_params``).
    fps : float
        Frames per second of the video.
    config : SonifyConfig

    Returns
    -------
    mido.MidiFile
    """
    import mido

    n = len(params["pitch"])
    ticks = np.rint(np.arange(n + 1) * TICKS_PER_SECOND / float(fps)).astype(np.int64)
    notes = frame_notes(params, config, fps)
    velocity = np.clip(np.rint(40 + 87 * np.asarray(params["amplitude"], float)), 1, 127).astype(int)

    meta = mido.MidiTrack([mido.MetaMessage("track_name", name="avstudio sonification", time=0),
                           mido.MetaMessage("set_tempo", tempo=TEMPO, time=0),
                           mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)])
    tone: list[tuple[int, int, Any]] = []  # (tick, order, message): note-offs before note-ons at a tick
    start = 0
    for k in range(1, n + 1):
        if k == n or notes[k] != notes[start]:
            tone.append((ticks[start], 1, mido.Message("note_on", channel=0, note=int(notes[start]),
                                                        velocity=int(velocity[start]))))
            tone.append((ticks[k], 0, mido.Message("note_off", channel=0, note=int(notes[start]), velocity=0)))
            start = k
    for name, number in CONTROLLERS.items():
        tone += _controller(params[name], ticks, channel=0, number=number)
    drone = [(0, 1, mido.Message("note_on", channel=1, note=int(config.root_note), velocity=80)),
             (ticks[n], 0, mido.Message("note_off", channel=1, note=int(config.root_note), velocity=0))]
    drone += _controller(params["drone"], ticks, channel=1, number=11)

    song = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    song.tracks.append(meta)
    song.tracks.append(_track("tone", tone))
    song.tracks.append(_track("drone", drone))
    return song


def _controller(curve: np.ndarray, ticks: np.ndarray, *, channel: int, number: int) -> list[tuple[int, int, Any]]:
    """Control changes wherever the curve's 0..127 value changes."""
    import mido

    values = np.clip(np.rint(127 * np.asarray(curve, float)), 0, 127).astype(int)
    changes = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    return [(int(ticks[k]), 1, mido.Message("control_change", channel=channel, control=number,
                                            value=int(values[k]))) for k in changes]


def _track(name: str, events: list[tuple[int, int, Any]]) -> Any:
    """A track from absolute-tick events (sorted; note-offs first at equal ticks), in delta times."""
    import mido

    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=int(tick - now)))
        now = tick
    return track
