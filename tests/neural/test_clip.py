"""CLIP image encoder on a tiny random vision tower (32 px input, 16-d projection)."""

from __future__ import annotations

import numpy as np
import pytest

from avstudio.encoders.base import ImageEncoder
from avstudio.errors import ModelError

from .tiny_models import CLIP_PROJECTION_DIM


@pytest.fixture(scope="module")
def encoder(tiny_clip):
    from avstudio.encoders.clip import ClipImageEncoder

    return ClipImageEncoder(str(tiny_clip), device="cpu", batch_size=3)


@pytest.fixture(scope="module")
def frames():
    """Five 40x48 frames: black, white, red, and two noise pictures."""
    rng = np.random.default_rng(0)
    solid = [np.full((40, 48, 3), c, np.uint8) for c in ((0, 0, 0), (255, 255, 255), (255, 0, 0))]
    noise = list(rng.integers(0, 256, (2, 40, 48, 3), dtype=np.uint8))
    return np.stack(solid + noise)


def test_attributes(encoder, tiny_clip):
    assert isinstance(encoder, ImageEncoder)
    assert encoder.name == f"clip:{tiny_clip}"
    assert encoder.dim == CLIP_PROJECTION_DIM
    assert encoder.config == {"model": str(tiny_clip), "dtype": "float32"}


def test_embeddings_match_transformers_reference(encoder, tiny_clip, frames):
    import torch
    from PIL import Image
    from transformers import CLIPImageProcessorPil, CLIPVisionModelWithProjection

    processor = CLIPImageProcessorPil.from_pretrained(tiny_clip, local_files_only=True)
    model = CLIPVisionModelWithProjection.from_pretrained(tiny_clip, local_files_only=True).eval()
    pixels = processor(images=[Image.fromarray(f) for f in frames], return_tensors="pt").pixel_values
    with torch.no_grad():
        reference = model(pixel_values=pixels).image_embeds.numpy()
    embeddings = encoder.encode_images(frames)
    assert embeddings.shape == (5, CLIP_PROJECTION_DIM) and embeddings.dtype == np.float32
    np.testing.assert_allclose(embeddings, reference, atol=1e-5)
    assert np.abs(embeddings[0] - embeddings[1]).max() > 1e-3  # black and white differ


def test_batched_equals_unbatched(encoder, frames):
    batched = encoder.encode_images(frames)  # batches of 3 + 2
    single = np.concatenate([encoder.encode_images(f[None]) for f in frames])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_bad_frames_are_refused(encoder):
    with pytest.raises(ModelError, match=r"frames must be \(n, h, w, 3\) RGB"):
        encoder.encode_images(np.zeros((2, 8, 8), np.uint8))


def test_missing_checkpoint_is_a_model_error(tmp_path):
    from avstudio.encoders.clip import ClipImageEncoder

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="incomplete: missing preprocessor_config.json"):
        ClipImageEncoder(str(tmp_path), device="cpu")


def test_vision_tower_loads_from_a_full_clip_checkpoint(tmp_path, frames):
    """laion/CLIP-ViT-H-14 ships a whole CLIPModel; the encoder takes its vision tower and projection."""
    import torch
    from transformers import CLIPImageProcessorPil, CLIPModel

    from avstudio.encoders.clip import ClipImageEncoder

    from .tiny_models import save_tiny_clip_vision

    folder = save_tiny_clip_vision(tmp_path / "clip-full", full_clip=True)
    model = CLIPModel.from_pretrained(folder, local_files_only=True).eval()
    pixels = CLIPImageProcessorPil.from_pretrained(folder)(images=list(frames), return_tensors="pt").pixel_values
    with torch.no_grad():
        reference = model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output).numpy()
    embeddings = ClipImageEncoder(str(folder), device="cpu").encode_images(frames)
    np.testing.assert_allclose(embeddings, reference, atol=1e-5)
