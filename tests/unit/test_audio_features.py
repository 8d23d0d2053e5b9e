"""Audio features: frame alignment, known tones and clicks, silence, chunked == whole."""

from __future__ import annotations

import numpy as np

from avstudio.features.audio import AUDIO_FEATURE_NAMES, HOP, audio_features
from tests.synthmedia import click_track, tone

SR = 22050


def test_click_track_onsets_land_on_the_click_frames():
    fps = 10
    click_frames = [5, 12, 20, 26]
    # Clicks 20 ms into their frame: librosa's onset peak (~2 hops later) is at the frame's middle.
    samples = click_track(3.0, SR, [k / fps + 0.02 for k in click_frames])
    onset = audio_features(samples, SR, fps=fps, n_frames=30)["onset"]
    assert onset.shape == (30,) and onset.dtype == np.float32
    assert sorted(np.argsort(onset)[-4:].tolist()) == click_frames
    quiet = np.setdiff1d(np.arange(30), click_frames)
    assert onset[quiet].max() < 0.1 * onset[click_frames].min()


def test_tone_rms_and_centroid():
    fps = 25
    f = audio_features(tone(2.0, SR, 1000.0, amp=0.5), SR, fps=fps, n_frames=50)
    middle = slice(5, 45)
    assert np.allclose(f["rms"][middle], 0.5 / np.sqrt(2), rtol=0.02)
    assert np.allclose(f["centroid"][middle], 1000.0, rtol=0.05)
    assert f["onset"][middle].max() < 1.0  # a steady tone has no onsets


def test_frame_k_is_sampled_at_its_middle():
    # A tone that starts at 1.0 s: frame 9 (middle 0.95 s) is silent, frame 10 (1.05 s) is not.
    samples = np.concatenate([np.zeros(SR, np.float32), tone(1.0, SR, 440.0)])
    rms = audio_features(samples, SR, fps=10, n_frames=20)["rms"]
    assert rms[:9].max() == 0.0 and rms[9] < 0.05
    assert rms[10] > 0.3


def test_silence_gives_zeros_not_nan():
    f = audio_features(np.zeros(SR, np.float32), SR, fps=30, n_frames=30)
    for name in AUDIO_FEATURE_NAMES:
        assert f[name].shape == (30,) and np.all(f[name] == 0.0)


def test_audio_shorter_than_the_video_is_zero_padded():
    f = audio_features(tone(1.0, SR, 440.0), SR, fps=10, n_frames=30)
    for name in AUDIO_FEATURE_NAMES:
        assert np.all(np.isfinite(f[name]))
        assert np.all(f[name][10:] == 0.0)
    assert np.all(f["rms"][1:9] > 0.3)


def test_tiny_and_empty_inputs():
    assert audio_features(np.zeros(0, np.float32), SR, fps=10, n_frames=3)["rms"].tolist() == [0.0] * 3
    short = audio_features(tone(0.05, SR, 440.0), SR, fps=30, n_frames=4)  # shorter than one window
    assert short["rms"][0] > 0 and np.all(short["rms"][2:] == 0.0)
    assert audio_features(tone(1.0, SR, 440.0), SR, fps=10, n_frames=0)["onset"].shape == (0,)


def test_chunked_equals_whole():
    rng = np.random.default_rng(3)
    seconds = 30.0
    t = np.arange(int(seconds * SR)) / SR
    music = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.3 * t))
    music += 0.1 * rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 2 * t) > 0.6)
    music += click_track(seconds, SR, np.arange(0.25, seconds, 0.77))
    music = music.astype(np.float32)
    whole = audio_features(music, SR, fps=30, n_frames=900, block_seconds=1e9)
    chunked = audio_features(music, SR, fps=30, n_frames=900, block_seconds=4.0)
    for name in AUDIO_FEATURE_NAMES:
        scale = np.abs(whole[name]).max()
        assert scale > 0
        np.testing.assert_allclose(chunked[name], whole[name], rtol=1e-4, atol=1e-6 * scale, err_msg=name)


def test_matches_librosa_between_hops():
    import librosa

    samples = click_track(2.0, SR, [0.3, 1.1]) + tone(2.0, SR, 500.0, amp=0.1)
    # One video frame per hop: frame k is sampled at (k + 0.5) / fps, half-way between hops k and k + 1.
    fps = SR / HOP
    n = len(samples) // HOP
    f = audio_features(samples, SR, fps=fps, n_frames=n)
    ref = librosa.onset.onset_strength(y=samples, sr=SR)
    expected = (ref[:n] + ref[1 : n + 1]) / 2
    np.testing.assert_allclose(f["onset"], expected, rtol=1e-4, atol=1e-4 * ref.max())
