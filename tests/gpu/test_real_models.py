"""Real-size checks with the released weights (opt-in: ``pytest -m gpu tests/gpu``).

Each test skips unless CUDA is present and the weights are already in the local
Hugging Face cache (or ``AVSTUDIO_<ROLE>`` names a local folder); nothing is
downloaded.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from avstudio.errors import ModelError
from avstudio.models.resolve import KNOWN_MODELS, resolve_model

pytestmark = pytest.mark.gpu


def _cuda() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    torch.manual_seed(0)


def _weights(role: str) -> str:
    """The reference to use for ``role``: ``AVSTUDIO_<ROLE>`` or the original model id, if present."""
    ref = os.environ.get(f"AVSTUDIO_{role.upper()}", KNOWN_MODELS[role])
    try:
        resolve_model(ref, role=role)
    except ModelError as error:
        pytest.skip(f"weights not on this machine: {error.one_line()}")
    return ref


def test_clap_htsat_unfused_real():
    _cuda()
    from avstudio.encoders.clap import ClapAudioEncoder

    encoder = ClapAudioEncoder(_weights("clap"), device="cuda", batch_size=8)
    assert encoder.dim == 512 and encoder.sample_rate == 48_000
    sr = encoder.sample_rate
    t = np.arange(sr) / sr
    rng = np.random.default_rng(0)
    windows = np.stack(
        [0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 3000 * t), 0.3 * rng.standard_normal(sr)]
    ).astype(np.float32)
    embeddings = encoder.encode_audio(windows, sr)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-4)
    single = np.concatenate([encoder.encode_audio(w[None], sr) for w in windows])
    np.testing.assert_allclose(embeddings, single, atol=1e-4)
    cos = embeddings @ embeddings.T
    assert cos[0, 1] > cos[0, 2]  # two pure tones are closer to each other than a tone to noise
    track = np.tile(windows.reshape(-1), 2)
    frames = encoder.encode_track(track, sr, fps=30, n_frames=150)
    assert frames.shape == (150, 512) and np.isfinite(frames).all()


def test_clip_vit_h14_feeds_ip_adapter_sd15():
    _cuda()
    from avstudio.encoders.clip import ClipImageEncoder
    from avstudio.render.ip_adapter import check_embed_dims, resolve_ip_adapter, ip_adapter_embed_dim

    encoder = ClipImageEncoder(_weights("clip"), device="cuda", batch_size=4)
    assert encoder.dim == 1024
    frames = np.stack([np.full((256, 256, 3), c, np.uint8) for c in (0, 128, 255)])
    embeddings = encoder.encode_images(frames)
    assert embeddings.shape == (3, 1024) and np.isfinite(embeddings).all()
    check_embed_dims(encoder.dim, ip_adapter_embed_dim(resolve_ip_adapter(_weights("ip_adapter"))))


def test_sd15_ip_adapter_paints_512():
    _cuda()
    from avstudio.encoders.clip import ClipImageEncoder
    from avstudio.render.base import FramePlan
    from avstudio.render.sd15 import SD15Renderer

    clip = ClipImageEncoder(_weights("clip"), device="cuda", batch_size=2)
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    embedding = clip.encode_images(picture[None])[0]
    renderer = SD15Renderer(
        _weights("sd15"), ip_adapter=_weights("ip_adapter"), device="cuda", image_embed_dim=clip.dim, steps=15
    )
    dark = FramePlan(embedding, cut=True, strength=1.0, polarity=-1)
    light = FramePlan(embedding, cut=True, strength=1.0, polarity=1)
    follow = FramePlan(embedding, cut=False, strength=0.4, polarity=1)
    frames = renderer.render([light, follow, follow], None, start=0)
    assert frames.shape == (3, 512, 512, 3) and frames.dtype == np.uint8
    assert frames.std() > 5  # a picture, not a flat field
    resumed = renderer.render([follow], frames[1], start=2)[0]
    assert np.abs(resumed.astype(int) - frames[2]).mean() < 1.0  # GPU kernels may differ in the last bit
    night = renderer.render([dark], None, start=0)[0]
    assert night.mean() < frames[0].mean()  # a black start picture keeps a cut darker than a white one
