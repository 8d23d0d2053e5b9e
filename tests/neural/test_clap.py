"""CLAP audio encoder on a tiny random checkpoint (1 s fixed input, 16 mel bins, 16-d)."""

from __future__ import annotations

import numpy as np
import pytest

from avstudio.cancel import CancelToken
from avstudio.encoders.base import AudioEncoder
from avstudio.errors import Cancelled, ModelError

from .tiny_models import CLAP_PROJECTION_DIM

SR = 48_000


@pytest.fixture(scope="module")
def encoder(tiny_clap):
    from avstudio.encoders.clap import ClapAudioEncoder

    return ClapAudioEncoder(str(tiny_clap), device="cpu", batch_size=4, window_seconds=0.25)


@pytest.fixture(scope="module")
def windows():
    """Six 0.25 s windows: tones of rising pitch plus a little noise (tiled 4x into the 1 s input)."""
    rng = np.random.default_rng(0)
    t = np.arange(SR // 4) / SR
    tones = [0.3 * np.sin(2 * np.pi * f * t) for f in (110, 220, 440, 880, 1760, 3520)]
    return (np.stack(tones) + 0.01 * rng.standard_normal((6, t.size))).astype(np.float32)


def _reference(folder, windows):
    """transformers' own path: ClapFeatureExtractor (rand_trunc) + ClapModel.get_audio_features."""
    import torch
    from transformers import ClapFeatureExtractor, ClapModel

    extractor = ClapFeatureExtractor.from_pretrained(folder, local_files_only=True)
    model = ClapModel.from_pretrained(folder, local_files_only=True).eval()
    inputs = extractor(list(windows), sampling_rate=SR, truncation="rand_trunc", return_tensors="pt")
    with torch.no_grad():
        return inputs["input_features"], model.get_audio_features(**inputs).pooler_output.numpy()


def test_attributes(encoder, tiny_clap):
    assert isinstance(encoder, AudioEncoder)
    assert encoder.name == f"clap:{tiny_clap}"
    assert encoder.dim == CLAP_PROJECTION_DIM
    assert encoder.sample_rate == SR
    assert encoder.window_seconds == 0.25
    assert encoder.config == {
        "model": str(tiny_clap),
        "window_seconds": 0.25,
        "embed_hop_seconds": 0.0625,
        "padding": "repeatpad",
        "dtype": "float32",
    }


def test_embeddings_match_transformers_reference(encoder, tiny_clap, windows):
    features, reference = _reference(tiny_clap, windows)
    assert np.abs(encoder.log_mel(windows).numpy() - features.numpy()).max() < 1e-3  # dB
    embeddings = encoder.encode_audio(windows, SR)
    assert embeddings.shape == (6, CLAP_PROJECTION_DIM) and embeddings.dtype == np.float32
    assert np.isfinite(embeddings).all()
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embeddings, reference, atol=1e-5)
    assert np.abs(embeddings[0] - embeddings[5]).max() > 1e-3  # different tones, different embeddings


def test_batched_equals_unbatched(encoder, windows):
    batched = encoder.encode_audio(windows, SR)  # batches of 4 + 2
    single = np.concatenate([encoder.encode_audio(w[None], SR) for w in windows])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_long_windows_are_centre_cropped(encoder):
    rng = np.random.default_rng(1)
    long = (0.1 * rng.standard_normal((1, 2 * SR))).astype(np.float32)  # 2 s > the 1 s fixed input
    middle = long[:, SR // 2 : SR // 2 + SR]
    np.testing.assert_allclose(encoder.encode_audio(long, SR), encoder.encode_audio(middle, SR), atol=1e-6)


def test_wrong_sample_rate_is_refused(encoder, windows):
    with pytest.raises(ModelError, match="CLAP needs audio at 48000 Hz, got 16000 Hz"):
        encoder.encode_audio(windows, 16_000)


def test_cancel_between_batches(encoder, windows):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        encoder.encode_audio(windows, SR, cancel=token)


def _track(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    pitch = 200 + 600 * t / seconds  # a slow glide: embeddings change smoothly
    return (0.3 * np.sin(2 * np.pi * np.cumsum(pitch) / SR)).astype(np.float32)


def test_encode_track_every_frame_equals_per_frame_windows(tiny_clap):
    from avstudio.encoders.clap import ClapAudioEncoder
    from avstudio.encoders.windows import iter_windows

    encoder = ClapAudioEncoder(str(tiny_clap), device="cpu", batch_size=8, window_seconds=0.25, embed_hop_seconds=0)
    samples = _track(1.0)
    per_frame = np.concatenate(
        [encoder.encode_audio(w, SR) for _, w in iter_windows(samples, SR, fps=12, n_frames=12, window_seconds=0.25)]
    )
    done = []
    track = encoder.encode_track(samples, SR, fps=12, n_frames=12, progress=lambda d, n: done.append((d, n)))
    np.testing.assert_allclose(track, per_frame, atol=1e-5)
    assert done == [(8, 12), (12, 12)]


def test_encode_track_with_hop_encodes_anchor_frames_and_interpolates(encoder):
    from avstudio.encoders.windows import window_starts

    samples = _track(1.0)
    fps, n_frames = 24, 23  # hop 0.0625 s -> every 2nd frame (m = round(1.5) = 2), plus the last frame
    calls = []
    original = encoder.encode_audio

    def counting(windows, sr, **kw):
        calls.append(len(windows))
        return original(windows, sr, **kw)

    encoder.encode_audio = counting
    try:
        track = encoder.encode_track(samples, SR, fps=fps, n_frames=n_frames)
    finally:
        del encoder.encode_audio
    assert track.shape == (n_frames, CLAP_PROJECTION_DIM) and track.dtype == np.float32
    assert sum(calls) == 12  # frames 0, 2, ..., 22 - not 23 windows
    np.testing.assert_allclose(np.linalg.norm(track, axis=1), 1.0, atol=1e-5)
    # anchor frames carry exactly their own window's embedding
    starts = window_starts(n_frames, sr=SR, fps=fps, window_seconds=0.25)
    length = SR // 4
    for frame in (0, 10, 22):
        window = np.zeros((1, length), np.float32)
        a, b = max(starts[frame], 0), min(starts[frame] + length, samples.size)
        window[0, a - starts[frame] : b - starts[frame]] = samples[a:b]
        np.testing.assert_allclose(track[frame], encoder.encode_audio(window, SR)[0], atol=1e-5)
    # an interpolated frame lies between its anchors: closer to both than they are to each other
    cos = lambda u, v: float(u @ v)  # noqa: E731 - unit vectors
    assert cos(track[3], track[2]) >= cos(track[2], track[4]) - 1e-6
    assert cos(track[3], track[4]) >= cos(track[2], track[4]) - 1e-6


def test_encode_track_edge_cases(encoder):
    assert encoder.encode_track(_track(0.5), SR, fps=30, n_frames=0).shape == (0, CLAP_PROJECTION_DIM)
    one = encoder.encode_track(_track(0.5), SR, fps=30, n_frames=1)
    assert one.shape == (1, CLAP_PROJECTION_DIM) and np.isfinite(one).all()
    silence = encoder.encode_track(np.zeros(0, np.float32), SR, fps=30, n_frames=5)
    assert silence.shape == (5, CLAP_PROJECTION_DIM) and np.isfinite(silence).all()
