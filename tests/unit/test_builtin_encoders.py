"""Built-in encoders: frame-centred windows, spectral audio features, PCA eigenframes, registry."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from avstudio.encoders.base import AudioEncoder, ImageEncoder
from avstudio.encoders.builtin_audio import BuiltinAudioEncoder
from avstudio.encoders.builtin_image import BuiltinImageEncoder, frame_brightness
from avstudio.encoders.registry import KNOWN_AUDIO, KNOWN_IMAGE, make_audio_encoder, make_image_encoder
from avstudio.encoders.windows import encode_track, frame_times, iter_windows
from avstudio.errors import MediaError, ModelError

SR = 22050


# ---------------------------------------------------------------- windows
def test_frame_times_are_frame_centres():
    np.testing.assert_allclose(frame_times(4, 10), [0.05, 0.15, 0.25, 0.35])
    assert frame_times(0, 30).shape == (0,)


def test_window_of_first_frame_is_zero_padded_before_the_track():
    # 1 s window at 600 Hz, frame 0 of a 30 fps video sits at 1/60 s = sample 10:
    # the window starts 290 samples before the track.
    samples = np.arange(1, 1201, dtype=np.float32)
    (start, windows), *_ = iter_windows(samples, 600, fps=30, n_frames=3, window_seconds=1.0)
    assert start == 0 and windows.shape == (3, 600) and windows.dtype == np.float32
    assert np.all(windows[0, :290] == 0)
    np.testing.assert_array_equal(windows[0, 290:], samples[:310])
    np.testing.assert_array_equal(windows[1, 270:], samples[:330])  # frame 1 at 1/20 s = sample 30


def test_windows_are_centred_chunked_and_padded_at_the_end():
    samples = np.arange(1, 301, dtype=np.float32)  # 3 s at 100 Hz
    blocks = list(iter_windows(samples, 100, fps=10, n_frames=30, window_seconds=1.0, chunk=8))
    assert [start for start, _ in blocks] == [0, 8, 16, 24]
    assert [w.shape for _, w in blocks] == [(8, 100), (8, 100), (8, 100), (6, 100)]
    windows = np.concatenate([w for _, w in blocks])
    # frame 10 is at 1.05 s = sample 105: its window is samples 55..154, centre value 106
    np.testing.assert_array_equal(windows[10], samples[55:155])
    assert windows[10, 50] == 106
    # the last frame (2.95 s) runs 45 samples past the end
    np.testing.assert_array_equal(windows[29, :55], samples[245:])
    assert np.all(windows[29, 55:] == 0)
    whole = next(iter_windows(samples, 100, fps=10, n_frames=30, window_seconds=1.0, chunk=1000))[1]
    np.testing.assert_array_equal(whole, windows)


def test_frames_past_the_end_of_the_audio_get_silent_windows():
    samples = np.ones(100, dtype=np.float32)
    windows = np.concatenate([w for _, w in iter_windows(samples, 100, fps=1, n_frames=4, window_seconds=1.0)])
    assert windows[0].sum() == 100  # frame 0 at 0.5 s covers the whole track
    assert windows[3].sum() == 0  # frame 3 at 3.5 s is after the track


def test_audio_shorter_than_one_window_is_an_error_with_a_hint():
    with pytest.raises(MediaError) as info:
        next(iter_windows(np.zeros(30, np.float32), 100, fps=30, n_frames=9, window_seconds=1.0))
    assert info.value.message == "audio is 0.3 s, shorter than one 1.0 s window"
    assert "encoders.window_seconds" in info.value.hint


def test_encode_track_concatenates_chunks_and_reports_progress():
    samples = np.arange(1, 301, dtype=np.float32)
    seen = []
    out = encode_track(
        lambda w: w[:, [50]], samples, 100, fps=10, n_frames=30, window_seconds=1.0, chunk=8,
        progress=lambda done, total: seen.append((done, total)),
    )
    np.testing.assert_array_equal(out[:, 0], np.arange(6, 301, 10))  # centre sample of each frame
    assert seen == [(8, 30), (16, 30), (24, 30), (30, 30)]


# ------------------------------------------------------------- audio encoder
def _tone(freq: float, amp: float, seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _training_windows(n: int = 24) -> np.ndarray:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        noise = rng.uniform(0.001, 0.2) * rng.standard_normal(SR)
        x = _tone(rng.uniform(60, 4000), rng.uniform(0.05, 0.8)) + noise
        out.append(x.astype(np.float32))
    return np.stack(out)


@pytest.fixture(scope="module")
def audio_encoder():
    return BuiltinAudioEncoder()


def test_audio_encoder_dims_and_protocol(audio_encoder):
    assert isinstance(audio_encoder, AudioEncoder)
    assert audio_encoder.name == "builtin-audio"
    assert audio_encoder.sample_rate == 22050 and audio_encoder.window_seconds == 1.0
    # 54 log bands x (dB, amplitude) x 3 offsets + 27 context bands x (mean, std) + 3 onset + 3 loudness
    assert audio_encoder.n_bands == 54 and audio_encoder.n_context_bands == 27
    assert audio_encoder.dim == 54 * 2 * 3 + 27 * 2 + 6 == 384
    assert len(audio_encoder.feature_names()) == audio_encoder.dim
    out = audio_encoder.encode_audio(np.stack([_tone(440, 0.3)] * 2), SR)
    assert out.shape == (2, 384) and out.dtype == np.float32


def test_silence_gives_finite_floor_values(audio_encoder):
    raw = audio_encoder.features(np.zeros((2, SR), np.float32), SR)
    assert np.all(np.isfinite(raw))
    names = audio_encoder.feature_names()
    db = [i for i, name in enumerate(names) if "_db_" in name]
    amp = [i for i, name in enumerate(names) if "_amp_" in name]
    np.testing.assert_allclose(raw[:, db], -100.0, atol=1e-3)
    assert np.all(raw[:, amp] == 0)
    fitted = BuiltinAudioEncoder().fit(audio_encoder.features(_training_windows(), SR))
    assert np.all(np.isfinite(fitted.encode_audio(np.zeros((1, SR), np.float32), SR)))


def test_louder_tone_has_larger_rms_by_the_exact_decibel_ratio(audio_encoder):
    names = audio_encoder.feature_names()
    raw = audio_encoder.features(np.stack([_tone(440, 0.1), _tone(440, 0.5)]), SR)
    for name in ("rms_centre", "rms_mean"):
        quiet, loud = raw[:, names.index(name)]
        assert loud - quiet == pytest.approx(20 * np.log10(5), abs=0.02)
    assert raw[1, names.index("rms_centre")] == pytest.approx(10 * np.log10(0.5**2 / 2), abs=0.05)


def test_pitch_moves_the_peak_band_of_the_centre_spectrum(audio_encoder):
    raw = audio_encoder.features(np.stack([_tone(220, 0.3), _tone(440, 0.3), _tone(880, 0.3)]), SR)
    centre_db = raw[:, 2 * 54 : 3 * 54]  # offset 0 s, dB block
    centres = 20.0 * 2.0 ** (np.arange(1, 55) / 6)
    expected = [int(np.argmin(np.abs(np.log2(centres / f)))) for f in (220, 440, 880)]
    assert centre_db.argmax(axis=1).tolist() == expected == [20, 26, 32]
    assert np.linalg.norm(raw[0] - raw[1]) > 10


def test_fitted_encoder_standardises_the_training_set():
    windows = _training_windows()
    encoder = BuiltinAudioEncoder()
    raw = encoder.encode_audio(windows, SR)  # raw before fitting
    np.testing.assert_array_equal(raw, encoder.features(windows, SR))
    encoder.fit(raw)
    z = encoder.encode_audio(windows, SR)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-3)
    varying = raw.std(axis=0) > 1e-3
    assert varying.mean() > 0.9
    np.testing.assert_allclose(z.std(axis=0)[varying], 1.0, atol=1e-3)


def test_audio_state_round_trip_gives_identical_embeddings():
    windows = _training_windows(8)[:, : SR // 2]
    encoder = BuiltinAudioEncoder(window_seconds=0.5, bands_per_octave=4)
    encoder.fit_windows(windows, SR)
    state = encoder.state_dict()
    assert set(state) == {"mean", "std"} and state["mean"].shape == (encoder.dim,)
    again = BuiltinAudioEncoder.from_state(state, encoder.config)
    np.testing.assert_array_equal(again.encode_audio(windows, SR), encoder.encode_audio(windows, SR))
    assert BuiltinAudioEncoder().state_dict() == {}
    with pytest.raises(ModelError):
        BuiltinAudioEncoder.from_state(state, BuiltinAudioEncoder().config)


# ------------------------------------------------------------- image encoder
def _grey(values: np.ndarray) -> np.ndarray:
    """(n, h, w) levels -> (n, h, w, 3) uint8."""
    return np.repeat(np.clip(np.rint(values), 0, 255).astype(np.uint8)[..., None], 3, axis=3)


def _bar_frames(heights: np.ndarray, *, width: int = 64, height: int = 48, light: np.ndarray | None = None):
    """White bars (with black gaps) growing from the bottom, mirrored around the centre.

    ``heights`` is ``(n, bars)`` in pixels; ``light`` marks frames to invert.
    """
    n, bars = heights.shape
    frames = np.zeros((n, height, width), np.float32)
    slot = width // (2 * bars)
    rows = np.arange(height)[::-1][:, None]
    for i in range(n):
        columns = np.zeros(width // 2)
        for b, h in enumerate(heights[i]):
            columns[b * slot : b * slot + slot // 2] = h
        half = (columns[None, :] > rows) * 255.0
        frames[i, :, width // 2 :] = half
        frames[i, :, : width // 2] = half[:, ::-1]
        if light is not None and light[i]:
            frames[i] = 255 - frames[i]
    return _grey(frames)


def test_pca_reconstructs_frames_of_a_k_dim_subspace():
    rng = np.random.default_rng(1)
    k, n = 5, 60
    yy, xx = np.mgrid[0:24, 0:32] / 10.0
    basis = np.stack([np.sin(xx * (j + 1) + yy * j) for j in range(k)])  # (k, 24, 32)
    coeff = rng.uniform(-18, 18, size=(n, k))
    frames = _grey(128 + np.tensordot(coeff, basis, axes=1))
    encoder = BuiltinImageEncoder(code_size=(32, 24), components=k).fit(frames)
    assert encoder.grey and not encoder.split_polarity
    codes = encoder.encode_images(frames)
    assert codes.shape == (n, k + 1) and np.all(codes[:, 0] == 0)
    assert np.abs(encoder.decode(codes).astype(float) - frames).mean() < 1.0
    # one global scale: the codes' mean variance is 1 on the fit set
    assert codes[:, 1:].var(axis=0).mean() == pytest.approx(1.0, rel=1e-3)


def test_bar_frames_round_trip_and_polarity_is_split():
    rng = np.random.default_rng(2)
    heights = rng.integers(0, 33, size=(40, 4))
    light = np.arange(40) % 4 == 0
    frames = _bar_frames(heights, light=light)
    encoder = BuiltinImageEncoder(components=24).fit(frames)
    assert encoder.split_polarity and encoder.dim == 25
    codes = encoder.encode_images(frames)
    np.testing.assert_array_equal(codes[:, 0], np.where(light, 1.0, -1.0))
    error = np.abs(encoder.decode(codes).astype(float) - frames).mean()
    mean_error = np.abs(frames.mean(axis=0) - frames).mean()
    assert error < 3.0 and mean_error > 100  # 2.58 vs 100.85 grey levels
    # the same shapes in the other polarity
    flipped = encoder.decode(codes, polarity=np.where(light, -1, 1))
    assert np.abs(flipped.astype(float) - (255 - frames)).mean() < 3.0


def test_brightness_of_codes_matches_the_frames():
    levels = np.array([20.0, 60, 100, 140, 180, 220])
    frames = _grey(np.broadcast_to(levels[:, None, None], (6, 12, 16)))
    encoder = BuiltinImageEncoder(code_size=(16, 12), components=3, polarity="none").fit(frames)
    np.testing.assert_allclose(encoder.brightness(encoder.encode_images(frames)), levels, atol=0.5)
    np.testing.assert_allclose(frame_brightness(frames), levels)


def test_soft_brightness_with_split_polarity():
    heights = np.random.default_rng(3).integers(0, 33, size=(20, 4))
    light = np.arange(20) % 2 == 0
    frames = _bar_frames(heights, light=light)
    encoder = BuiltinImageEncoder(components=8).fit(frames)
    codes = encoder.encode_images(frames)
    np.testing.assert_allclose(encoder.brightness(codes), frame_brightness(frames), atol=3.0)
    undecided = codes.copy()
    undecided[:, 0] = 0.0  # halfway between the polarities: mid grey
    np.testing.assert_allclose(encoder.brightness(undecided), 127.5, atol=1e-3)


def test_colour_is_kept_for_colour_material_and_dropped_for_grey():
    rng = np.random.default_rng(4)
    colour = rng.integers(0, 256, size=(10, 12, 16, 3), dtype=np.uint8)
    enc = BuiltinImageEncoder(code_size=(16, 12), components=4).fit(colour)
    assert enc.channels == 3 and not enc.split_polarity
    assert enc.decode(enc.encode_images(colour)).shape == (10, 12, 16, 3)
    grey = _grey(rng.integers(0, 256, size=(10, 12, 16)))
    assert BuiltinImageEncoder(code_size=(16, 12), components=4).fit(grey).channels == 1


def test_fit_subsamples_long_videos_evenly_and_resizes():
    frames = _grey(np.broadcast_to(np.linspace(0, 250, 50)[:, None, None], (50, 30, 40)))
    encoder = BuiltinImageEncoder(code_size=(8, 6), components=2, polarity="none").fit(frames, max_frames=5)
    # frames 0, 12, 24, 37, 49 at levels 0, 61, 122, 189, 250
    np.testing.assert_allclose(encoder.mean, 124.4, atol=1e-4)
    assert encoder.decode(encoder.encode_images(frames[:1])).shape == (1, 6, 8, 3)


def test_fit_reads_on_disk_frames_a_chunk_at_a_time(tmp_path):
    import h5py

    rng = np.random.default_rng(7)
    frames = _bar_frames(rng.integers(0, 33, size=(30, 4)), light=np.arange(30) % 3 == 0)
    with h5py.File(tmp_path / "frames.h5", "w") as f:
        f["frames"] = frames
        from_disk = BuiltinImageEncoder(components=5).fit(f["frames"], max_frames=20)
    in_memory = BuiltinImageEncoder(components=5).fit(frames, max_frames=20)
    np.testing.assert_array_equal(from_disk.encode_images(frames), in_memory.encode_images(frames))


def test_code_size_given_as_longest_side_follows_the_aspect_ratio():
    rng = np.random.default_rng(6)
    landscape = rng.integers(0, 256, size=(4, 240, 320, 3), dtype=np.uint8)
    encoder = BuiltinImageEncoder(code_size=64, components=3).fit(landscape)
    assert encoder.config["code_size"] == 64 and encoder.code_size == (64, 48)
    assert encoder.decode(encoder.encode_images(landscape)).shape == (4, 48, 64, 3)
    again = BuiltinImageEncoder.from_state(encoder.state_dict(), encoder.config)
    assert again.code_size == (64, 48)
    portrait = rng.integers(0, 256, size=(4, 90, 30, 3), dtype=np.uint8)
    assert BuiltinImageEncoder(code_size=30, components=2).fit(portrait).code_size == (10, 30)
    with pytest.raises(ModelError):
        BuiltinImageEncoder(code_size=64).code_size  # unknown until fitted


def test_image_state_round_trip_is_identical():
    rng = np.random.default_rng(5)
    frames = _bar_frames(rng.integers(0, 33, size=(30, 4)), light=np.arange(30) % 3 == 0)
    encoder = BuiltinImageEncoder(components=6).fit(frames)
    again = BuiltinImageEncoder.from_state(encoder.state_dict(), encoder.config)
    assert isinstance(again, ImageEncoder) and again.split_polarity and again.channels == 1
    codes = encoder.encode_images(frames)
    np.testing.assert_array_equal(again.encode_images(frames), codes)
    np.testing.assert_array_equal(again.decode(codes), encoder.decode(codes))
    assert all(isinstance(v, np.ndarray) for v in encoder.state_dict().values())
    with pytest.raises(ModelError):
        BuiltinImageEncoder().decode(codes)  # not fitted


# ------------------------------------------------------------------ registry
def test_registry_builds_builtin_encoders_with_options():
    audio = make_audio_encoder("builtin", window_seconds=0.5)
    assert isinstance(audio, BuiltinAudioEncoder) and audio.window_seconds == 0.5
    image = make_image_encoder("builtin", components=8)
    assert isinstance(image, BuiltinImageEncoder) and image.dim == 9
    assert KNOWN_AUDIO == ("builtin", "clap:") and KNOWN_IMAGE == ("builtin", "clip:")


def test_registry_rejects_unknown_specs():
    with pytest.raises(ModelError) as info:
        make_audio_encoder("foo")
    assert info.value.message == "unknown audio encoder 'foo'"
    assert info.value.hint == "use 'builtin' or 'clap:<model id or folder>'"
    with pytest.raises(ModelError) as info:
        make_image_encoder("clap:x")
    assert info.value.message == "unknown image encoder 'clap:x'"
    with pytest.raises(ModelError):
        make_audio_encoder("clap:")


def test_registry_imports_neural_encoders_lazily(monkeypatch):
    calls = []

    class FakeClap:
        def __init__(self, ref, **options):
            calls.append((ref, options))

    monkeypatch.setitem(sys.modules, "avstudio.encoders.clap", types.SimpleNamespace(ClapAudioEncoder=FakeClap))
    encoder = make_audio_encoder("clap:laion/clap-htsat-unfused", device="cpu", batch_size=4)
    assert isinstance(encoder, FakeClap)
    assert calls == [("laion/clap-htsat-unfused", {"device": "cpu", "batch_size": 4})]
