"""The sonification synthesiser: timing, streaming, click-free output, mapping, config."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pytest
import tomlkit

from avstudio.cancel import CancelToken
from avstudio.errors import Cancelled, ManifestError, StageError
from avstudio.synth import FIELDS, PARAMS, SonifyConfig, Synth, n_samples, peak_gain, template
from avstudio.synth.config import DEFAULT_MAP
from avstudio.synth.mapping import colour_feature, spans
from avstudio.synth.pitch import midi_to_hz, scale_notes
from avstudio.synth.timing import frame_to_sample

SR = 44100
NTSC = 30000 / 1001
EQUAL_POWER = math.sqrt(0.5)


def make_features(n: int, *, brightness=None, seed: int = 0, **overrides) -> dict[str, np.ndarray]:
    """Per-frame features of a synthetic video of ``n`` frames."""
    rng = np.random.default_rng(seed)
    features = {
        "brightness": np.linspace(0.0, 255.0, n) if brightness is None else np.asarray(brightness, float),
        "contrast": rng.uniform(10.0, 80.0, n),
        "mass": rng.uniform(0.0, 1.0, n),
        "motion": np.abs(rng.normal(0.0, 3.0, n)),
        "avg_color": rng.uniform(0.0, 255.0, (n, 3)),
    }
    features.update({k: np.asarray(v, float) for k, v in overrides.items()})
    return features


def only(mapping: dict[str, str], **settings) -> SonifyConfig:
    """A config with every parameter unmapped except those in ``mapping``, and no events (the random
    colours of :func:`make_features` would be a cut every frame)."""
    return SonifyConfig.from_dict({"map": {**{p: "none" for p in PARAMS}, **mapping}, "events_level": 0.0,
                                   **settings})


def step(n: int, low: float, high: float) -> np.ndarray:
    """``low`` for the first half of the frames, ``high`` from the middle frame on."""
    return np.where(np.arange(n) < n // 2, low, high).astype(float)


def spectrum_peak(x: np.ndarray, sr: int = SR) -> tuple[float, float]:
    """Frequency (Hz) and amplitude of the strongest component of a window (Hann)."""
    window = np.hanning(len(x))
    magnitude = np.abs(np.fft.rfft(x * window)) * 2.0 / window.sum()
    peak = int(np.argmax(magnitude))
    return peak * sr / len(x), float(magnitude[peak])


def amplitude_at(x: np.ndarray, hz: float, sr: int = SR) -> float:
    window = np.hanning(len(x))
    magnitude = np.abs(np.fft.rfft(x * window)) * 2.0 / window.sum()
    return float(magnitude[int(round(hz * len(x) / sr))])


# --- timing -----------------------------------------------------------------

@pytest.mark.parametrize(("n_frames", "fps", "expected"), [
    (90, 30.0, 132300),
    (75, 25.0, 132300),
    (90, NTSC, round(90 * 44100 * 1001 / 30000)),   # 132432
    (1, NTSC, 1471),                                   # 1471.47 -> 1471
    (0, 30.0, 0),
])
def test_n_samples_is_exact(n_frames, fps, expected):
    assert n_samples(n_frames, fps=fps, sample_rate=SR) == expected
    synth = Synth(make_features(n_frames), fps=fps, n_frames=n_frames, config=SonifyConfig())
    assert synth.n_samples == expected
    assert synth.render().shape == (expected, 2)


def test_ntsc_has_no_drift_over_an_hour():
    frames = 30000 * 3600 // 1001  # 107892 frames, one hour
    assert n_samples(frames, fps=NTSC, sample_rate=SR) == round(frames * 44100 * 1001 / 30000)
    assert frame_to_sample(30000, fps=NTSC, sample_rate=48000) == 1001 * 48000


@pytest.mark.parametrize("channels", [1, 2])
def test_channels_and_dtype(channels):
    synth = Synth(make_features(90), fps=30.0, n_frames=90, config=SonifyConfig(channels=channels))
    audio = synth.render()
    assert audio.shape == (132300, channels)
    assert audio.dtype == np.float32


def test_sample_rate_is_configurable():
    synth = Synth(make_features(90), fps=30.0, n_frames=90, config=SonifyConfig(sample_rate=48000))
    assert synth.render().shape == (144000, 2)


# --- streaming ----------------------------------------------------------------

@pytest.mark.parametrize("frames_per_chunk", [1, 7, 13, 64, 89, 90, 1000])
def test_chunks_equal_one_render(frames_per_chunk):
    features = make_features(90, brightness=np.random.default_rng(3).uniform(0, 255, 90))
    synth = Synth(features, fps=NTSC, n_frames=90, config=SonifyConfig())
    whole = synth.render()
    chunks = list(synth.iter_chunks(frames_per_chunk))
    assert len(chunks) == math.ceil(90 / frames_per_chunk)
    assert all(c.shape[1] == 2 and c.dtype == np.float32 for c in chunks)
    joined = np.concatenate(chunks)
    assert joined.shape == (132432, 2)
    np.testing.assert_allclose(joined, whole, rtol=0, atol=1e-6)
    assert np.array_equal(joined, whole)  # blocks sit on a fixed grid: bit-identical
    starts = np.cumsum([0] + [len(c) for c in chunks[:-1]])
    expected = [frame_to_sample(k, fps=NTSC, sample_rate=SR) for k in range(0, 90, frames_per_chunk)]
    assert list(starts) == expected


def test_cancel_stops_before_the_next_chunk():
    token = CancelToken()
    synth = Synth(make_features(90), fps=30.0, n_frames=90, config=SonifyConfig())
    chunks = synth.iter_chunks(30, cancel=token)
    assert len(next(chunks)) == 44100
    token.cancel()
    with pytest.raises(Cancelled):
        next(chunks)


# --- no clicks ----------------------------------------------------------------

def naive_phase_reset(frequency: np.ndarray, *, fps: float, amplitude: float) -> np.ndarray:
    """The original approach: every frame restarts its sine at phase 0."""
    total = n_samples(len(frequency), fps=fps, sample_rate=SR)
    out = np.zeros(total)
    for k, f in enumerate(frequency):
        start = frame_to_sample(k, fps=fps, sample_rate=SR)
        stop = frame_to_sample(k + 1, fps=fps, sample_rate=SR)
        out[start:stop] = amplitude * np.sin(2 * np.pi * f * np.arange(stop - start) / SR)
    return out


def test_brightness_jump_does_not_click():
    n, fps = 90, 30.0
    config = only({"pitch": "brightness"}, partials=1)
    synth = Synth(make_features(n, brightness=step(n, 0, 255)), fps=fps, n_frames=n, config=config)
    left = synth.render()[:, 0].astype(np.float64)
    f_max = float(synth.frame_frequency.max())
    assert f_max == pytest.approx(880.0)
    # |d(A sin(phi))| <= A dphi + |dA|: the glide's phase step plus the end fades' slope.
    fade_samples = round(config.fade * SR)
    threshold = EQUAL_POWER * (2 * np.pi * f_max / SR + np.pi / (2 * fade_samples)) + 1e-5
    boundaries = np.array([frame_to_sample(k, fps=fps, sample_rate=SR) for k in range(1, n)])

    jumps = np.abs(np.diff(left))
    assert jumps.max() < threshold
    assert jumps[boundaries - 1].max() < threshold
    # The pitch really moved from the root to three octaves up.
    assert spectrum_peak(left[: SR])[0] == pytest.approx(110.0, abs=1.0)
    assert spectrum_peak(left[-SR:])[0] == pytest.approx(880.0, abs=1.0)

    naive = naive_phase_reset(synth.frame_frequency, fps=fps, amplitude=EQUAL_POWER)
    naive_jumps = np.abs(np.diff(naive))
    assert naive_jumps[boundaries - 1].max() > 4 * threshold
    assert naive_jumps[boundaries[n // 2 - 1] - 1] > 4 * threshold  # the jump frame itself


def test_default_mapping_has_no_clicks_at_frame_boundaries():
    n, fps = 60, 30.0
    synth = Synth(make_features(n, brightness=step(n, 0, 255), seed=5), fps=fps, n_frames=n,
                  config=SonifyConfig())
    audio = synth.render().astype(np.float64)
    boundaries = np.array([frame_to_sample(k, fps=fps, sample_rate=SR) for k in range(1, n)])
    for channel in range(2):
        jumps = np.abs(np.diff(audio[:, channel]))
        inside = np.delete(jumps, boundaries - 1)
        # A click would be the largest step of the track and sit on a boundary.
        assert jumps[boundaries - 1].max() <= inside.max()
        assert jumps[boundaries - 1].mean() < 2 * inside.mean()


# --- mapping -------------------------------------------------------------------

def test_brighter_frames_sound_higher():
    n = 120  # 4 s: 2 s dark, 2 s bright
    config = only({"pitch": "brightness"}, partials=1)
    synth = Synth(make_features(n, brightness=step(n, 40, 200)), fps=30.0, n_frames=n, config=config)
    left = synth.render()[:, 0]
    dark_hz, dark_amp = spectrum_peak(left[int(0.5 * SR): int(1.5 * SR)])
    bright_hz, bright_amp = spectrum_peak(left[int(2.5 * SR): int(3.5 * SR)])
    assert (dark_hz, bright_hz) == (110.0, 880.0)
    assert dark_amp == pytest.approx(EQUAL_POWER, abs=1e-3)
    assert bright_amp == pytest.approx(EQUAL_POWER, abs=1e-3)


def test_pitch_is_quantised_to_the_scale_and_rises_with_brightness():
    config = only({"pitch": "brightness"}, smoothing=0.0)
    synth = Synth(make_features(90), fps=30.0, n_frames=90, config=config)
    allowed = midi_to_hz(scale_notes("pentatonic", root_note=45, octaves=3))
    assert np.all(np.diff(synth.frame_frequency) >= 0)
    assert np.isin(np.round(synth.frame_frequency, 6), np.round(allowed, 6)).all()
    assert synth.frame_frequency[0] == pytest.approx(110.0)
    assert synth.frame_frequency[-1] == pytest.approx(880.0)


def test_narrow_range_video_moves_pitch_by_its_real_change_unless_min_spans_are_off():
    brightness = np.linspace(100.0, 110.0, 90)  # 10 grey levels: a quarter of brightness's 40-level min span
    features = make_features(90, brightness=brightness)
    synth = Synth(features, fps=30.0, n_frames=90,
                  config=only({"pitch": "brightness"}, percentiles=[0, 100], smoothing=0.0))
    pitch = synth.frame_params["pitch"]
    # blend 1/4 of the stretched ramp with 3/4 of the real change (10/40) around the rest value 0.5
    np.testing.assert_allclose(pitch, 0.25 * (brightness - 100) / 10 + 0.75 * (0.5 + (brightness - 105) / 40),
                               atol=1e-12)
    assert pitch.min() == pytest.approx(0.28125) and pitch.max() == pytest.approx(0.71875)
    stretched = Synth(features, fps=30.0, n_frames=90, config=only(
        {"pitch": "brightness"}, percentiles=[0, 100], smoothing=0.0, min_span_scale=0.0, min_note_seconds=0.0))
    np.testing.assert_allclose(stretched.frame_params["pitch"], (brightness - 100.0) / 10.0, atol=1e-12)
    assert stretched.frame_frequency.min() == pytest.approx(110.0)
    assert stretched.frame_frequency.max() == pytest.approx(880.0)



def test_percentiles_clip_outliers():
    values = np.concatenate([np.linspace(0.0, 1.0, 98), [50.0, -50.0]])
    out = spans(values, limits=("5%", "95%"), min_span=0.0)[0]
    assert out.min() == 0.0 and out.max() == 1.0
    assert out[-2] == 1.0 and out[-1] == 0.0
    assert 0.0 < out[49] < 1.0


def test_constant_feature_is_neutral_and_finite():
    synth = Synth(make_features(30, brightness=np.full(30, 128.0), motion=np.zeros(30)),
                  fps=30.0, n_frames=30, config=SonifyConfig())
    # constant features rest at their parameters' rest values (the default map: pitch <- brightness,
    # amplitude and density <- motion): the middle note, full level, no tremolo
    assert np.all(synth.frame_params["pitch"] == 0.5)
    assert np.all(synth.frame_params["amplitude"] == 1.0)
    assert np.all(synth.frame_params["density"] == 0.0)
    # 45 + 18 = MIDI 63 snaps to 64 (E4), the nearer pentatonic note of A.
    np.testing.assert_allclose(synth.frame_frequency, midi_to_hz(64))
    audio = synth.render()
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0.1


def test_inverted_feature_reverses_the_pitch():
    synth = Synth(make_features(90), fps=30.0, n_frames=90,
                  config=only({"pitch": "-brightness"}, smoothing=0.0))
    assert synth.frame_frequency[0] == pytest.approx(880.0)
    assert synth.frame_frequency[-1] == pytest.approx(110.0)


def test_warm_frames_pan_right_and_cool_frames_left():
    n = 60
    colour = np.where(np.arange(n)[:, None] < n // 2, [255.0, 0.0, 0.0], [0.0, 0.0, 255.0])
    synth = Synth(make_features(n, avg_color=colour), fps=30.0, n_frames=n,
                  config=only({"pan": "warmth"}, partials=1))
    audio = synth.render()
    red, blue = audio[int(0.2 * SR): int(0.8 * SR)], audio[int(1.2 * SR): int(1.8 * SR)]
    rms = lambda x: float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))  # noqa: E731
    assert rms(red[:, 0]) < 1e-6 and rms(red[:, 1]) == pytest.approx(EQUAL_POWER, abs=1e-3)
    assert rms(blue[:, 1]) < 1e-6 and rms(blue[:, 0]) == pytest.approx(EQUAL_POWER, abs=1e-3)


def test_drone_follows_mass_at_the_root():
    n = 120
    synth = Synth(make_features(n, mass=step(n, 0.0, 1.0)), fps=30.0, n_frames=n,
                  config=only({"drone": "mass"}, partials=1))
    left = synth.render()[:, 0]
    assert amplitude_at(left[int(0.5 * SR): int(1.5 * SR)], 110.0) < 1e-3
    # drone_level 0.25, centred with equal power.
    assert amplitude_at(left[int(2.5 * SR): int(3.5 * SR)], 110.0) == pytest.approx(0.25 * EQUAL_POWER, abs=1e-3)


def test_density_adds_a_smooth_tremolo():
    n = 60
    synth = Synth(make_features(n, motion=step(n, 0.0, 10.0)), fps=30.0, n_frames=n,
                  config=only({"density": "motion"}, partials=1, root_note=69, octaves=1))
    left = synth.render()[:, 0].astype(np.float64)
    window = 98  # 2.2 ms: well under a tremolo cycle, 1.5 periods of the 659 Hz tone
    still = np.abs(left[int(0.2 * SR): int(0.8 * SR)]).reshape(-1, window).max(axis=1)
    moving = np.abs(left[int(1.2 * SR): int(1.8 * SR)]).reshape(-1, window).max(axis=1)
    assert still.min() == pytest.approx(EQUAL_POWER, abs=0.01)
    assert moving.max() == pytest.approx(EQUAL_POWER, abs=0.01)
    assert moving.min() == pytest.approx((1 - 0.6) * EQUAL_POWER, abs=0.02)  # tremolo_depth 0.6


def test_colour_features_known_values():
    rgb = np.array([[255.0, 0, 0], [0, 255.0, 0], [0, 0, 255.0], [128.0, 128, 128], [255.0, 128, 0]])
    np.testing.assert_allclose(colour_feature(rgb, "hue")[:3], [0.0, 1 / 3, 2 / 3])
    np.testing.assert_allclose(colour_feature(rgb, "saturation"), [1, 1, 1, 0, 1])
    np.testing.assert_allclose(colour_feature(rgb, "warmth"), [255, 0, -255, 0, 255])
    np.testing.assert_allclose(colour_feature(rgb, "green"), [0, 255, 0, 128, 128])


def test_nan_feature_names_feature_and_frame():
    brightness = np.linspace(0, 255, 30)
    brightness[17] = np.nan
    with pytest.raises(StageError, match=r"'brightness' is nan at frame 17"):
        Synth(make_features(30, brightness=brightness), fps=30.0, n_frames=30, config=SonifyConfig())
    colour = np.full((30, 3), 100.0)
    colour[3, 2] = np.inf
    with pytest.raises(StageError, match=r"'avg_color' is inf at frame 3"):
        Synth(make_features(30, avg_color=colour), fps=30.0, n_frames=30, config=SonifyConfig())


def test_missing_audio_feature_is_a_stage_error():
    config = SonifyConfig.from_dict({"map": {"amplitude": "rms"}})
    with pytest.raises(StageError, match=r"'rms'.*sonify\.map\.amplitude"):
        Synth(make_features(30), fps=30.0, n_frames=30, config=config)
    features = make_features(30, rms=np.linspace(0, 1, 30))
    synth = Synth(features, fps=30.0, n_frames=30, config=config)
    np.testing.assert_allclose(synth.frame_params["amplitude"][[0, -1]], [0.0, 1.0])


def test_wrong_length_feature_is_a_stage_error():
    with pytest.raises(StageError, match=r"'brightness' has shape \(29,\), expected \(30,\)"):
        Synth(make_features(30, brightness=np.zeros(29)), fps=30.0, n_frames=30, config=SonifyConfig())


# --- peak normalisation -----------------------------------------------------------

@pytest.mark.parametrize("peak_db", [-1.0, -6.0, 0.0])
def test_peak_gain_reaches_target_without_clipping(peak_db):
    synth = Synth(make_features(90), fps=NTSC, n_frames=90, config=SonifyConfig(peak_db=peak_db))
    peak = max(float(np.abs(c).max()) for c in synth.iter_chunks(16))
    gain = peak_gain(peak, peak_db=synth.config.peak_db)
    scaled = np.concatenate([c * np.float32(gain) for c in synth.iter_chunks(16)])
    assert scaled.dtype == np.float32
    assert abs(float(np.abs(scaled).max()) - 10 ** (peak_db / 20)) < 1e-6
    assert float(np.abs(scaled).max()) <= 10 ** (peak_db / 20) <= 1.0


def test_peak_gain_of_silence_is_unity():
    assert peak_gain(0.0, peak_db=-1.0) == 1.0


# --- config --------------------------------------------------------------------------

def test_defaults_and_template_round_trip():
    config = SonifyConfig()
    assert (config.sample_rate, config.channels, config.scale, config.root_note) == (44100, 2, "pentatonic", 45)
    assert config.map == DEFAULT_MAP
    parsed = tomllib.loads(template())["sonify"]
    assert SonifyConfig.from_dict(parsed) == config
    assert SonifyConfig.from_dict(config.to_dict()) == config
    assert set(FIELDS) == set(config.to_dict())
    assert all(FIELDS[name].default == value for name, value in config.to_dict().items())


def test_from_dict_accepts_tomlkit_tables_and_partial_maps():
    doc = tomlkit.parse('[sonify]\nsample_rate = 48000\nsmoothing = 0\n[sonify.map]\npitch = "hue"\n')
    config = SonifyConfig.from_dict(doc["sonify"])
    assert config.sample_rate == 48000 and type(config.sample_rate) is int
    assert config.smoothing == 0.0 and type(config.smoothing) is float
    assert config.map == {**DEFAULT_MAP, "pitch": "hue"}
    assert type(config.map["pitch"]) is str


@pytest.mark.parametrize(("table", "needles"), [
    ({"tempo": 120}, ["sonify.tempo", "sample_rate", "peak_db"]),
    ({"sample_rate": "44100"}, ["sonify.sample_rate", "8000 .. 192000"]),
    ({"sample_rate": 44100.0}, ["sonify.sample_rate", "integer"]),
    ({"channels": True}, ["sonify.channels", "1 .. 2"]),
    ({"channels": 3}, ["sonify.channels", "1 .. 2"]),
    ({"smoothing": -0.1}, ["sonify.smoothing", "0.0 .. 2.0"]),
    ({"scale": "dorian"}, ["sonify.scale", "major", "pentatonic", "continuous"]),
    ({"percentiles": [95, 5]}, ["sonify.percentiles", "0.0 .. 100.0"]),
    ({"percentiles": [5]}, ["sonify.percentiles", "two increasing numbers"]),
    ({"map": {"pitch": "loudness"}}, ["sonify.map.pitch", "brightness", "warmth", "none"]),
    ({"map": {"wobble": "motion"}}, ["sonify.map.wobble", "pitch", "density"]),
    ({"map": {"pan": 1}}, ["sonify.map.pan", "brightness"]),
    ({"map": "brightness"}, ["sonify.map", "table"]),
    ({"root_note": 96, "octaves": 6, "sample_rate": 44100}, ["sonify.octaves", "sample_rate"]),
])
def test_invalid_config_names_path_and_allowed_values(table, needles):
    with pytest.raises(ManifestError) as caught:
        SonifyConfig.from_dict(table)
    message = str(caught.value)
    assert "\n" not in message and caught.value.hint
    for needle in needles:
        assert needle in message


def test_field_metadata_describes_allowed_values():
    assert FIELDS["sample_rate"] == (int, 44100, (8000, 192000), "output sample rate in Hz")
    assert FIELDS["scale"].allowed_text.startswith("one of major, minor, pentatonic")
    assert "none" in FIELDS["map"].allowed and "warmth" in FIELDS["map"].allowed
    kind, default, allowed, doc = FIELDS["percentiles"]
    assert (kind, default, allowed) == (list, [5.0, 95.0], (0.0, 100.0)) and doc


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, avstudio.synth; "
            "heavy = {'scipy', 'torch', 'librosa', 'cv2', 'av', 'soundfile', 'h5py'} & set(sys.modules); "
            "assert not heavy, heavy")
    from pathlib import Path

    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


# --- held notes -----------------------------------------------------------------------

def trills(notes: np.ndarray) -> tuple[int, int]:
    """(note changes, changes that go back to the previous note within 3 frames)."""
    changes = np.flatnonzero(notes[1:] != notes[:-1]) + 1
    back = sum(1 for c in changes if any(notes[c + j] == notes[c - 1] for j in range(1, 4) if c + j < len(notes)))
    return len(changes), back


def test_held_notes_ignore_wobble_at_a_midpoint_and_never_trill():
    from avstudio.synth.pitch import held_notes, quantise

    notes = scale_notes("chromatic", root_note=60, octaves=1)
    rng = np.random.default_rng(0)
    wobble = 60.5 + 0.1 * rng.standard_normal(300)  # around the midpoint between 60 and 61
    plain = quantise(wobble, notes)
    assert trills(plain)[0] > 100
    held = held_notes(wobble, notes, hysteresis=0.3, min_frames=4)
    assert trills(held)[0] <= 2 and trills(held)[1] == 0
    # a real move still moves, to the nearest note, and each note lasts at least min_frames
    ramp = np.linspace(60, 72, 240)
    stepped = held_notes(ramp, notes, hysteresis=0.3, min_frames=4)
    assert stepped[0] == 60 and stepped[-1] == 72 and trills(stepped) == (12, 0)
    runs = np.diff(np.flatnonzero(np.r_[True, stepped[1:] != stepped[:-1], True]))
    assert runs.min() >= 4
    np.testing.assert_array_equal(held_notes(ramp, notes, hysteresis=0.0, min_frames=1), quantise(ramp, notes))


def test_notes_hold_on_a_real_clip(tmp_path):
    """Big Buck Bunny at the defaults: no trills (plain rounding gave 11 %), half the note changes."""
    from dataclasses import replace

    from avstudio.synth.control import frame_notes
    from tests.conftest import SHARED_MEDIA

    clip = SHARED_MEDIA / "bigbuckbunny.mp4"
    if not clip.is_file():
        pytest.skip("../shared/media is not here")
    from avstudio.pipeline.runner import run
    from avstudio.stages.sonify import load_features
    from avstudio.workspace.create import create_workspace
    from avstudio.workspace.workspace import Workspace

    create_workspace(tmp_path / "ws", template="sonify", video=clip)
    ws = Workspace(tmp_path / "ws")
    run(ws, ["features"])
    with ws.store.read("features") as g:
        fps, n, features = float(g.attrs["fps"]), int(g.attrs["n_frames"]), load_features(g)
    config = SonifyConfig()
    pitch = Synth(features, fps=fps, n_frames=n, config=config).frame_params["pitch"]
    held = trills(frame_notes(pitch, config=config, fps=fps))
    plain = trills(frame_notes(pitch, config=replace(config, note_hysteresis=0.0, min_note_seconds=0.0), fps=fps))
    assert held[1] == 0 and plain[1] / plain[0] > 0.05
    assert held[0] < 0.6 * plain[0]


def test_adsr_envelope_and_event_detection():
    from avstudio.synth.events import adsr, detect, render_events

    env = adsr(SR, SR, attack=0.01, decay=0.1, sustain=0.5, hold=0.2, release=0.2)
    assert env[0] == 0 and env[int(0.01 * SR)] == pytest.approx(1.0, abs=1e-3)
    assert env[int(0.2 * SR)] == pytest.approx(0.5) and env[int(0.4 * SR)] == pytest.approx(0.275, abs=1e-3)
    assert env[int(0.6 * SR):].max() == 0
    n = 90
    colour = np.where(np.arange(n)[:, None] < 30, 20.0, 200.0) * np.ones((1, 3))
    motion = np.zeros(n)
    motion[60] = 12.0  # one burst of motion
    events = detect(colour, motion, np.full(n, 57.0), fps=30.0, sample_rate=SR, root_note=45, cut_threshold=40,
                    level=0.5, min_gap_seconds=0.25, motion_span=2.0)
    assert [(e.frame, e.kind, e.note) for e in events] == [(30, "cut", 33.0), (60, "motion", 81.0)]
    assert events[0].start == frame_to_sample(30, fps=30.0, sample_rate=SR)
    hits = render_events(events, 0, 3 * SR, sample_rate=SR)
    assert np.abs(hits[: events[0].start]).max() == 0 and np.abs(hits[events[0].start:][:200]).max() > 0.1
    whole = render_events(events, 0, 3 * SR, sample_rate=SR)
    pieces = np.concatenate([render_events(events, a, min(a + 1000, 3 * SR), sample_rate=SR)
                             for a in range(0, 3 * SR, 1000)])
    np.testing.assert_array_equal(whole, pieces)  # any chunking, the same samples
    assert detect(colour, motion, np.full(n, 57.0), fps=30.0, sample_rate=SR, root_note=45, cut_threshold=40,
                  level=0.0, min_gap_seconds=0.25, motion_span=2.0) == []


def test_presets_fill_the_keys_the_table_does_not_set():
    from avstudio.errors import ManifestError
    from avstudio.synth.config import PRESETS

    ambient = SonifyConfig.from_dict({"preset": "ambient"})
    assert ambient.scale == "major" and ambient.octaves == 2 and ambient.smoothing == 0.4
    assert SonifyConfig.from_dict({"preset": "ambient", "scale": "minor"}).scale == "minor"  # a key wins
    assert SonifyConfig.from_dict({}).scale == "pentatonic" and PRESETS["classic"] == {}
    percussive = SonifyConfig.from_dict({"preset": "percussive"})
    n = 90
    colour = np.where(np.arange(n)[:, None] % 30 < 15, 40.0, 60.0) * np.ones((1, 3))  # RGB distance 35 every 0.5 s
    features = make_features(n, avg_color=colour)
    cuts = {name: sum(e.kind == "cut" for e in Synth(features, fps=30.0, n_frames=n, config=config).events)
            for name, config in (("classic", SonifyConfig()), ("percussive", percussive))}
    assert cuts["classic"] == 0 and cuts["percussive"] == 5  # its lower cut threshold (25) hears these cuts
    with pytest.raises(ManifestError, match=r"sonify.preset = 'loud' is not one of classic, ambient"):
        SonifyConfig.from_dict({"preset": "loud"})


def test_the_template_leaves_preset_keys_to_the_preset(tmp_path):
    from avstudio.workspace.manifest import parse_manifest
    from avstudio.workspace.templates import render_manifest

    text = render_manifest("sonify").replace('"VIDEO"', '"clip.mp4"').replace('preset = "classic"',
                                                                             'preset = "ambient"')
    params = parse_manifest(text, tmp_path / "avstudio.toml").params["sonify"]
    assert params["preset"] == "ambient" and params["scale"] == "major" and params["partials"] == 3


def test_ranges_set_limits_per_feature_as_percentiles_or_values():
    from avstudio.errors import ManifestError

    n = 100
    brightness = np.linspace(0.0, 200.0, n)
    features = make_features(n, brightness=brightness)

    def pitch(**ranges):
        config = only({"pitch": "brightness"}, smoothing=0.0, ranges=ranges)
        return Synth(features, fps=30.0, n_frames=n, config=config).frame_params["pitch"]

    np.testing.assert_allclose(pitch(brightness={"lo": 0, "hi": 100}), np.clip(brightness / 100, 0, 1))
    np.testing.assert_allclose(pitch(brightness={"lo": "0%", "hi": "50%"}), np.clip(brightness / 100, 0, 1),
                               atol=0.011)
    # a minimum span wider than the limits: the ramp moves pitch by 200 / 400 around the middle
    wide = pitch(brightness={"lo": "0%", "hi": "100%", "min_span": 400})
    assert wide.max() - wide.min() == pytest.approx(0.5 * 1 + 0.5 * 0.5)
    config = SonifyConfig.from_dict({"ranges": {"motion": {"lo": "10%", "min_span": 3}}})
    assert config.ranges == {"motion": {"lo": "10%", "min_span": 3.0}}
    for bad, message in (({"blur": {}}, "unknown feature sonify.ranges.blur"),
                         ({"motion": {"lo": "ten%"}}, "sonify.ranges.motion.lo = 'ten%' is not a percentile"),
                         ({"motion": {"min_span": -1}}, "sonify.ranges.motion.min_span must be a number >= 0")):
        with pytest.raises(ManifestError, match=message):
            SonifyConfig.from_dict({"ranges": bad})
