"""Real-world-shaped inputs: variable frame rate, late video, old and new codecs, many channels,
rotation, stills. Media is generated here with PyAV (tests/wildmedia.py), so every time is known."""

from __future__ import annotations

import av
import numpy as np
import pytest

from avstudio.media.audio import read_audio
from avstudio.media.encode import mux_audio
from avstudio.media.probe import probe
from tests.conftest import run_all
from tests.wildmedia import beeps, frame_levels, rotate_mp4, still_png, write_clip

SR = 48_000


def presented(path):
    """(first bright frame's time, first loud sample's time) in ``path``, as a player presents them."""
    flash = beep = None
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            if frame.to_ndarray(format="rgb24").mean() > 128:
                flash = frame.time
                break
    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            loud = np.abs(frame.to_ndarray()).max(axis=0) > 0.1
            if loud.any():
                beep = frame.time + int(np.argmax(loud)) / frame.sample_rate
                break
    return flash, beep


def bright_from(frames):
    """Index of the first frame whose centre is bright."""
    centre = frames[:, frames.shape[1] // 2, frames.shape[2] // 2, 0]
    return int(np.argmax(centre > 128))


@pytest.fixture(scope="module")
def wild(tmp_path_factory):
    """The generated files, by name."""
    d = tmp_path_factory.mktemp("wild")
    out = {}
    # Variable frame rate: steps of 1/60 and 1/15 s alternate for 2 s, then 1/24 s; the cut is at the
    # first frame at or after 2.00 s.
    times, t, i = [], 0.0, 0
    while t < 4.0:
        times.append(t)
        t += (1 / 60 if i % 2 == 0 else 1 / 15) if t < 2.0 else 1 / 24
        i += 1
    times = np.array(times)
    cut = int(np.searchsorted(times, 2.0))
    out["vfr_cut"] = float(times[cut])
    out["vfr"] = write_clip(d / "vfr.mp4", frame_levels(len(times), cut=cut), times)
    # The picture starts 0.5 s after the sound; a flash and a beep at 2.0 s on the file's clock.
    tv = 0.5 + np.arange(int(3.5 * 25)) / 25
    flash_at = int(round((2.0 - 0.5) * 25))
    for name, fmt in (("late.mkv", None), ("late.ts", "mpegts")):
        out[name] = write_clip(d / name, frame_levels(len(tv), cut=flash_at), tv, fmt=fmt,
                               audio=beeps(4.0, SR, [tv[flash_at]]))
    out["msmpeg4.avi"] = write_clip(d / "msmpeg4.avi", frame_levels(30, cut=15), np.arange(30) / 10,
                                    codec="msmpeg4", rate=10)
    out["mpeg4.avi"] = write_clip(d / "mpeg4.avi", frame_levels(30, cut=15), np.arange(30) / 10,
                                  codec="mpeg4", rate=10)
    out["av1.mkv"] = write_clip(d / "av1.mkv", frame_levels(30, 64, 64, cut=15), np.arange(30) / 10,
                                codec="libaom-av1")
    out["hevc.mkv"] = write_clip(d / "hevc.mkv", frame_levels(30, 64, 64, cut=15), np.arange(30) / 10,
                                 codec="libx265")
    for ch, name in ((6, "ch6.mp4"), (8, "ch8.mkv")):
        out[name] = write_clip(d / name, frame_levels(30, cut=15), np.arange(30) / 10,
                               audio=beeps(3.0, SR, [1.5], channels=ch),
                               audio_codec="aac" if ch == 6 else "pcm_s16le")
    marked = frame_levels(20)
    marked[:, :10, :10] = 255  # a white corner: top left as recorded
    out["rotated.mp4"] = rotate_mp4(write_clip(d / "rotated.mp4", marked, np.arange(20) / 10), 90)
    out["rotated_mpeg4.mp4"] = rotate_mp4(write_clip(d / "rotated_mpeg4.mp4", marked, np.arange(20) / 10,
                                                     codec="mpeg4", rate=10), 90)
    out["still.png"] = still_png(d / "still.png")
    return out


def test_variable_frame_rate_keeps_the_cut_at_its_time(wild, make_ws):
    for fps in ("source", 12):
        ws = make_ws(wild["vfr"], analysis__fps=fps)
        result, _ = run_all(ws, "features")
        assert result.failed == []
        with ws.store.read("extract") as ex:
            rate = float(ex.attrs["fps"])
            assert bool(ex.attrs["variable_rate"]) is True
            frames = ex["frames"][:]
            assert ex.attrs["duration"] == pytest.approx(4.0, abs=1.5 / rate)
        with ws.store.read("features") as fe:
            brightness = fe["brightness"][:]
        seen = int(np.argmax(brightness > 0.5 * (brightness.min() + brightness.max()))) / rate
        assert abs(seen - wild["vfr_cut"]) <= 1 / rate, (fps, seen, wild["vfr_cut"])
        assert bright_from(frames) / rate == pytest.approx(seen)


@pytest.mark.parametrize("name", ["late.mkv", "late.ts"])
def test_a_picture_that_starts_late_is_time_zero_for_frames_audio_and_outputs(wild, make_ws, name):
    info = probe(wild[name])
    assert info.audio_offset == pytest.approx(-0.5, abs=0.03)  # the sound starts half a second earlier
    ws = make_ws(wild[name])
    result, _ = run_all(ws)
    assert result.failed == []
    with ws.store.read("extract") as ex:
        fps = float(ex.attrs["fps"])
        flash = bright_from(ex["frames"][:]) / fps
        audio = ex["audio"][:]
        beep = int(np.argmax(np.abs(audio) > 0.1)) / int(ex["audio"].attrs["sample_rate"])
        assert float(ex.attrs["audio_offset"]) == pytest.approx(info.audio_offset)
        assert float(ex.attrs["source_start"]) == pytest.approx(info.video_start)
    assert flash == pytest.approx(1.5, abs=1 / fps)
    assert abs(flash - beep) <= 1 / fps
    # The muxed output starts with the picture: its flash is where the features saw it.
    out = ws.root / "outputs" / "sonified.mp4"
    seen, _ = presented(out)
    assert abs(seen - flash) <= 1 / fps
    # And the source's own beep, muxed the same way, stays within one frame of the flash.
    mux_audio(wild[name], read_audio(wild[name], start=info.video_start).samples, SR, ws.root / "beep.mp4")
    seen, heard = presented(ws.root / "beep.mp4")
    assert abs(seen - heard) <= 1 / fps and abs(seen - flash) <= 1 / fps


def test_audio_that_starts_late_is_padded_with_silence(tmp_path):
    path = write_clip(tmp_path / "late_audio.mkv", frame_levels(75, cut=50), np.arange(75) / 25,
                      audio=beeps(2.5, SR, [1.5]), audio_start=0.5)
    info = probe(path)
    track = read_audio(path, start=info.video_start)
    assert int(np.argmax(np.abs(track.samples) > 0.1)) / SR == pytest.approx(2.0, abs=0.025)
    assert np.abs(track.samples[: int(0.45 * SR)]).max() == 0.0


@pytest.mark.parametrize("name,codec,how", [("msmpeg4.avi", "h264", "re-encoded"), ("mpeg4.avi", "h264", "re-encoded"),
                                            ("av1.mkv", "av1", "copied"), ("hevc.mkv", "hevc", "copied")])
def test_old_and_new_codecs_give_a_playable_mp4(wild, make_ws, name, codec, how):
    ws = make_ws(wild[name])
    result, events = run_all(ws)
    assert result.failed == [], [getattr(e, "message", "") for e in events]
    out = ws.root / "outputs" / "sonified.mp4"
    info = probe(out)
    assert info.container.startswith("mov,mp4")
    assert probe(out).video_codec in (codec, "libdav1d")  # libdav1d: FFmpeg's AV1 decoder
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 30
    if codec == "hevc":
        with av.open(str(out)) as c:
            assert c.streams.video[0].codec_context.codec_tag == "hvc1"  # Apple's players need this tag
    assert bright_from(np.stack(frames)) == 15
    assert info.has_audio and info.audio_codec == "aac"
    assert info.duration == pytest.approx(3.0, abs=0.1)
    logs = " ".join(getattr(e, "message", "") for e in events)
    assert ("re-encoded it to H.264" in logs) == (how == "re-encoded")


@pytest.mark.parametrize("name", ["ch6.mp4", "ch8.mkv"])
def test_surround_audio_is_mixed_down_without_a_crash(wild, make_ws, name):
    ws = make_ws(wild[name])
    result, _ = run_all(ws, "extract")
    assert result.failed == []
    with ws.store.read("extract") as ex:
        audio = ex["audio"][:]
        assert audio.ndim == 1 and int(ex["audio"].attrs["channels"]) == int(name[2])
        sr = int(ex["audio"].attrs["sample_rate"])
    assert int(np.argmax(np.abs(audio) > 0.1)) / sr == pytest.approx(1.5, abs=0.03)
    assert 0.2 < np.abs(audio).max() <= 1.0
    stereo = read_audio(wild[name], mono=False)
    assert stereo.samples.shape[1] == 2 and np.abs(stereo.samples).max() <= 1.0


def test_a_rotated_phone_clip_is_analysed_upright_and_keeps_its_rotation(wild, make_ws):
    ws = make_ws(wild["rotated.mp4"])
    result, _ = run_all(ws)
    assert result.failed == []
    with ws.store.read("extract") as ex:
        frames = ex["frames"][:]
        assert int(ex.attrs["rotation"]) == 270  # turned 90 degrees clockwise, as players show it
    assert frames.shape[1:] == (64, 48, 3)  # portrait
    assert frames[0, :8, -8:].mean() > 200 and frames[0, :8, :8].mean() < 60  # the corner is now top right
    out = probe(ws.root / "outputs" / "sonified.mp4")
    assert (out.width, out.height, out.rotation) == (48, 64, 270)  # copied with its display matrix


def test_a_rotated_clip_that_is_re_encoded_is_turned_upright(wild, tmp_path):
    out = tmp_path / "out.mp4"
    assert mux_audio(wild["rotated_mpeg4.mp4"], np.zeros(SR, np.float32), SR, out) == "re-encoded"
    info = probe(out)
    assert (info.width, info.height, info.rotation) == (48, 64, 0)
    with av.open(str(out)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert first[:8, -8:].mean() > 200 and first[:8, :8].mean() < 60


def test_a_still_picture_is_refused(wild, tmp_path):
    from click.testing import CliRunner

    from avstudio.cli import cli

    result = CliRunner().invoke(cli, ["init", str(tmp_path / "ws"), "--video", str(wild["still.png"])])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: still.png is a still image (one frame), not a video (pass a video; to use a picture, first "
        "make a clip of it (e.g. ffmpeg -loop 1 -t 10 -i picture.png clip.mp4))")
    assert not (tmp_path / "ws").exists()


def test_a_one_frame_video_is_refused_by_extract(tmp_path, make_ws):
    path = write_clip(tmp_path / "one.mp4", frame_levels(1), [0.0])
    ws = make_ws(path)
    result, events = run_all(ws)
    assert result.failed == ["extract"]
    failed = [e for e in events if type(e).__name__ == "StageFailed"]
    assert "one.mp4 is a still image (one frame), not a video" in failed[0].message
    assert not ws.store.has("extract") and not (ws.root / "outputs" / "sonified.mp4").exists()
