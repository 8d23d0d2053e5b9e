"""The sonify pipeline end to end on tiny synthetic clips, with exact expected values."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from avstudio.workspace.workspace import Workspace
from tests.conftest import run_all


def states(ws):
    return {s.name: s.state for s in Workspace(ws.root).status()}


def reasons(ws):
    return {s.name: s.reasons for s in Workspace(ws.root).status()}


def test_solid_clip_end_to_end(make_ws, solid_clip):
    ws = make_ws(solid_clip)
    result, events = run_all(ws)
    assert result.exit_code == 0 and result.ran == ["extract", "features", "sonify", "assemble"]
    with ws.store.read("extract") as ex:
        assert ex["frames"].shape == (90, 48, 64, 3)
        assert ex.attrs["duration"] == 3.0 and ex.attrs["fps"] == 30.0
        assert ex["audio"].attrs["sample_rate"] == 44100 and ex["audio"].attrs["channels"] == 1
    with ws.store.read("features") as fg:
        assert np.allclose(fg["avg_color"][:], [200, 100, 50], atol=1.5)
        assert np.allclose(fg["brightness"][:], 0.299 * 200 + 0.587 * 100 + 0.114 * 50, atol=1.0)
        assert fg["contrast"][:].max() < 0.6
        assert np.all(fg["mass"][:] == 0)  # no pixel has all channels in 0..100
        assert np.all(fg["motion"][:] < 0.05) and fg["motion"][0] == 0
        assert fg["audio/rms"].shape == (90,)
    info = sf.info(str(ws.layout.outputs / "sonified.wav"))
    assert info.frames == 132300 and info.samplerate == 44100 and info.channels == 2
    assert info.frames / info.samplerate == 3.0
    from avstudio.media.probe import probe

    mp4 = probe(ws.layout.outputs / "sonified.mp4")
    assert mp4.has_audio and mp4.n_frames == 90 and abs(mp4.duration - 3.0) < 0.05
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished" and "progress" in kinds
    logged = [json.loads(line)["event"] for line in ws.layout.event_log.read_text().splitlines()]
    assert logged == kinds


def test_second_run_does_nothing_and_param_change_is_explained(make_ws, solid_clip):
    ws = make_ws(solid_clip)
    run_all(ws)
    assert set(states(ws).values()) == {"fresh"}
    result, events = run_all(Workspace(ws.root))
    assert result.ran == [] and [e.reason for e in events if e.kind == "stage_skipped"] == ["fresh"] * 4

    Workspace(ws.root).manifest.set("sonify.scale", "major")
    assert states(ws) == {"extract": "fresh", "features": "fresh", "sonify": "stale", "assemble": "stale"}
    why = reasons(ws)
    assert why["sonify"] == ['params.sonify.scale changed ("pentatonic" -> "major")']
    assert why["assemble"] == ["upstream sonify changed"]
    result, _ = run_all(Workspace(ws.root))
    assert result.ran == ["sonify", "assemble"]

    Workspace(ws.root).manifest.set("features.flow_size", 32)
    assert states(ws) == {"extract": "fresh", "features": "stale", "sonify": "stale", "assemble": "stale"}
    assert reasons(ws)["features"] == ["params.features.flow_size changed (48 -> 32)"]


def test_force_and_targets(make_ws, solid_clip):
    ws = make_ws(solid_clip)
    result, _ = run_all(ws, "features")
    assert result.ran == ["extract", "features"]
    assert states(ws)["sonify"] == "missing"
    result, _ = run_all(Workspace(ws.root), "features", force=True)
    assert result.ran == ["features"]
    result, _ = run_all(Workspace(ws.root), "features", force=True, downstream=True)
    assert result.ran == ["features", "sonify", "assemble"]


def test_source_video_change_is_explained(make_ws, solid_clip, tmp_path):
    import shutil

    copy = tmp_path / "copy.mp4"
    shutil.copy(solid_clip, copy)
    ws = make_ws(copy)
    run_all(ws)
    from tests.synthmedia import make_video, solid_frames

    make_video(copy, solid_frames(60, 48, 64, (10, 10, 10)), fps=30)
    why = reasons(ws)
    assert "source video changed" in why["extract"] and why["features"] == ["upstream extract changed"]


def test_video_without_audio_is_valid(make_ws, silent_video_clip):
    ws = make_ws(silent_video_clip)
    result, _ = run_all(ws)
    assert result.exit_code == 0
    with ws.store.read("extract") as ex:
        assert ex["audio"].shape == (0,) and ex["audio"].attrs["channels"] == 0
    with ws.store.read("features") as fg:
        assert "audio" not in fg
        motion = fg["motion"][1:]
        assert np.all(np.abs(motion - 2.0) < 0.3)  # every pixel moves 2 px per frame
    assert sf.info(str(ws.layout.outputs / "sonified.wav")).frames == round(2.0 * 44100)


def test_failed_stage_keeps_earlier_outputs_and_skips_dependents(make_ws, silent_video_clip):
    ws = make_ws(silent_video_clip)
    run_all(ws)
    with ws.store.read("sonify") as sg:
        before = sg["samples"][:]
    ws.manifest.set("sonify.map", {"pitch": "rms"})  # no audio track -> no rms feature
    result, events = run_all(Workspace(ws.root))
    assert result.failed == ["sonify"] and result.exit_code == 1
    failed = next(e for e in events if e.kind == "stage_failed")
    assert "rms" in failed.message
    assert next(e for e in events if e.kind == "stage_skipped" and e.stage == "assemble").reason == "upstream sonify failed"
    st = {s.name: s for s in Workspace(ws.root).status()}
    assert st["sonify"].state == "failed" and "rms" in st["sonify"].reasons[0]
    with ws.store.read("sonify") as sg:
        np.testing.assert_array_equal(sg["samples"][:], before)


def test_export_json_and_csv(make_ws, solid_clip):
    from avstudio.stages.export import export_records, to_csv

    ws = make_ws(solid_clip)
    run_all(ws, "features")
    data = export_records(ws)
    assert data["video_duration"] == 3.0 and len(data["frames"]) == 90
    f0 = data["frames"][0]
    assert set(f0) == {"avg_color", "mass", "brightness", "contrast", "motion"}
    assert abs(f0["brightness"] - 124.1) < 1.0 and f0["mass"] == 0
    lines = to_csv(data, fps=30.0).splitlines()
    assert lines[0] == "frame,time,avg_r,avg_g,avg_b,mass,brightness,contrast,motion" and len(lines) == 91


def test_features_memo_from_extract_equals_recomputing_from_stored_frames(make_ws, silent_video_clip):
    """extract computes visual features on the fly for the current params; features reuses them only
    while the params match, and otherwise recomputes from the frames in the store: same values."""
    memo_ws = make_ws(silent_video_clip, features__flow_size=32)
    _, events = run_all(memo_ws, "features")
    assert any("computed during extract" in getattr(e, "message", "") for e in events)

    fresh_ws = make_ws(silent_video_clip)
    run_all(fresh_ws, "features")
    Workspace(fresh_ws.root).manifest.set("features.flow_size", 32)
    result, events = run_all(Workspace(fresh_ws.root), "features")
    assert result.ran == ["features"]  # extract stays fresh: the memo is not part of its fingerprint
    assert not any("computed during extract" in getattr(e, "message", "") for e in events)
    with memo_ws.store.read("features") as a, fresh_ws.store.read("features") as b:
        for key in ("avg_color", "brightness", "contrast", "mass", "motion"):
            np.testing.assert_allclose(a[key][:], b[key][:], rtol=1e-6, atol=1e-5, err_msg=key)


def test_sonified_track_reaches_the_loudness_target_or_the_peak_limit(make_ws, silent_video_clip):
    import pyloudnorm

    def measured(ws):
        x, sr = sf.read(str(ws.root / "outputs" / "sonified.wav"))
        return pyloudnorm.Meter(sr).integrated_loudness(x), 20 * np.log10(np.abs(x).max())

    for target in (-16.0, -23.0):
        ws = make_ws(silent_video_clip, sonify__loudness_lufs=target)
        result, _ = run_all(ws)
        assert result.failed == []
        loudness, peak = measured(ws)
        assert abs(loudness - target) < 0.1 and peak <= -1.0
    # a target the peak limit forbids: the peak wins, and the log says so
    ws = make_ws(silent_video_clip, sonify__loudness_lufs=-5.0, sonify__peak_db=-6.0)
    result, events = run_all(ws)
    loudness, peak = measured(ws)
    assert abs(peak - (-6.0)) < 0.05 and loudness < -7.0
    warnings = [e.message for e in events if getattr(e, "level", "") == "warning"]
    assert any(w.startswith("the peak limit (-6 dBFS) holds the track at") for w in warnings)


def test_a_still_picture_encoded_with_x264_sounds_still(make_ws, tmp_path):
    """Codec noise only: notes hold, no tremolo, the drone and the pan stay put (they swept their whole
    range before minimum spans)."""
    from avstudio.stages.sonify import load_features
    from avstudio.synth import SonifyConfig, Synth
    from avstudio.synth.control import frame_notes
    from tests.synthmedia import make_video, smooth_texture

    picture = np.stack([smooth_texture(180, 320, seed=s) for s in range(3)], axis=-1)
    clip = make_video(tmp_path / "still.mp4", np.repeat(picture[None], 150, axis=0), fps=30, lossless=False, crf=23)
    ws = make_ws(clip)
    run_all(ws, "features")
    with ws.store.read("features") as g:
        fps, n, features = float(g.attrs["fps"]), int(g.attrs["n_frames"]), load_features(g)
    assert np.ptp(features["brightness"]) > 0  # the noise is there
    for scale, still in ((1.0, True), (0.0, False)):
        config = SonifyConfig(min_span_scale=scale)
        params = Synth(features, fps=fps, n_frames=n, config=config).frame_params
        changes = int(np.count_nonzero(np.diff(frame_notes(params["pitch"], config=config, fps=fps))))
        steady = max(np.ptp(params["drone"]), np.ptp(params["pan"]), params["density"].max())
        assert (changes / (n / fps) < 0.5 and steady < 0.05) == still, (scale, changes, steady)


def test_a_hard_cut_is_heard_as_an_onset_within_one_frame(make_ws, tmp_path):
    import librosa

    from tests.synthmedia import make_video, solid_frames

    fps, cut = 30, 45  # the picture turns from dark to bright at 1.5 s
    frames = np.concatenate([solid_frames(cut, 48, 64, (30, 30, 30)), solid_frames(45, 48, 64, (220, 220, 220))])
    clip = make_video(tmp_path / "cut.mp4", frames, fps=fps)

    def heard(level):
        ws = make_ws(clip, sonify__events_level=level)
        result, _ = run_all(ws)
        assert result.failed == []
        x, sr = sf.read(str(ws.root / "outputs" / "sonified.wav"))
        y = x.mean(axis=1).astype(np.float32)
        onsets = librosa.onset.onset_detect(y=y, sr=sr, units="time", hop_length=256)
        strength = librosa.onset.onset_strength(y=y, sr=sr, hop_length=256)
        times = librosa.times_like(strength, sr=sr, hop_length=256)
        return onsets, float(strength[np.abs(times - cut / fps) < 2 / fps].max())

    onsets, hit = heard(0.5)
    assert any(0 <= t - cut / fps <= 1 / fps for t in onsets)
    _, glide = heard(0.0)  # the tone's own pitch change alone is a weak onset
    assert hit > 3 * glide


def test_sonify_draws_its_picture_and_records_its_events(make_ws, tmp_path):
    import cv2

    from tests.synthmedia import make_video, solid_frames

    frames = np.concatenate([solid_frames(30, 48, 64, (30, 30, 30)), solid_frames(30, 48, 64, (220, 220, 220))])
    ws = make_ws(make_video(tmp_path / "cut.mp4", frames, fps=30))
    result, _ = run_all(ws)
    assert result.failed == []
    image = cv2.imread(str(ws.root / "outputs" / "sonify.png"))
    assert image.shape[1] == 1200 and image.shape[0] > 500
    with ws.store.read("sonify") as g:
        assert g["events"][:].tolist() == [[30, 0]]  # one cut, at frame 30
    (ws.root / "outputs" / "sonify.png").unlink()
    assert Workspace(ws.root).status(only="sonify")[0].state == "missing"


def test_loudness_of_a_long_track_is_measured_on_bounded_excerpts(monkeypatch):
    import avstudio.stages.sonify as sonify

    monkeypatch.setattr(sonify, "MEASURED_SECONDS", 2)
    track = np.arange(10 * 100, dtype=np.float32).reshape(-1, 1)  # 10 s at 100 Hz
    assert sonify.loudness_sample(track[:150], 100).shape == (150, 1)  # short: all of it
    sample = sonify.loudness_sample(track, 100)
    assert sample.shape == (200, 1)  # ten excerpts of 0.2 s
    assert sample[0, 0] == 0 and sample[-1, 0] == 999  # from the start to the end
