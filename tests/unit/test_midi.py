"""``avstudio export --format midi``: the notes follow the synthesiser's pitch curve, and mido parses the file."""

from __future__ import annotations

import mido
import numpy as np
from click.testing import CliRunner

from avstudio.cli import cli
from avstudio.synth import SonifyConfig
from avstudio.synth.midi import TICKS_PER_SECOND, frame_notes, to_midi


def notes_in(song) -> list[tuple[float, float, int]]:
    """(start s, end s, note) of every note of the tone track."""
    out, now, open_at = [], 0, {}
    for message in song.tracks[1]:
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            open_at[message.note] = now
        elif message.type in ("note_off", "note_on"):
            out.append((round(open_at.pop(message.note) / TICKS_PER_SECOND, 3), round(now / TICKS_PER_SECOND, 3),
                        message.note))
    return out


def test_notes_follow_the_pitch_curve_and_the_controllers_the_parameters():
    fps, n = 25.0, 100
    ramp = np.repeat(np.linspace(0, 1, 5), 20)  # five steps of pitch, 0.8 s each
    params = {"pitch": ramp, "pan": np.linspace(0, 1, n), "harmonics": np.full(n, 0.5), "cutoff": np.full(n, 0.5),
              "drone": np.zeros(n), "amplitude": np.full(n, 1.0), "density": np.zeros(n)}
    config = SonifyConfig(scale="chromatic", root_note=48, octaves=2)
    song = mido.MidiFile(file=_roundtrip(to_midi(params, fps=fps, config=config)))
    assert song.ticks_per_beat == 480 and len(song.tracks) == 3
    assert notes_in(song) == [(round(0.8 * i, 3), round(0.8 * (i + 1), 3), 48 + 6 * i) for i in range(5)]  # 24 st in 4 steps
    np.testing.assert_array_equal(frame_notes(params, config, fps), np.repeat(48 + 6 * np.arange(5), 20))
    pans = [m.value for m in song.tracks[1] if m.type == "control_change" and m.control == 10]
    assert pans[0] == 0 and pans[-1] == 127 and pans == sorted(pans)
    assert abs(song.length - 4.0) < 1e-9


def _roundtrip(song):
    import io

    buf = io.BytesIO()
    song.save(file=buf)
    buf.seek(0)
    return buf


def test_export_midi_from_a_sonified_workspace(make_ws, solid_clip):
    from tests.conftest import run_all

    ws = make_ws(solid_clip)
    run_all(ws, "features")
    out = ws.root / "song.mid"
    result = CliRunner().invoke(cli, ["export", "-C", str(ws.root), "--format", "midi", "--out", str(out)])
    assert result.exit_code == 0, result.output
    song = mido.MidiFile(str(out))
    notes = notes_in(song)
    assert notes and abs(notes[-1][1] - 3.0) < 1e-3  # the 3 s clip
    assert {track.name for track in song.tracks} == {"avstudio sonification", "tone", "drone"}
