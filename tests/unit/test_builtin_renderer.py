"""Built-in renderer: decode, polarity, crispness and img2img-style blending."""

from __future__ import annotations

import numpy as np
import pytest

from avstudio.encoders.builtin_image import BuiltinImageEncoder
from avstudio.errors import ModelError
from avstudio.render.base import FramePlan, Renderer
from avstudio.render.builtin import GREY_CRISPNESS, BuiltinRenderer, crispness_curve

CODE = (16, 12)


def _grey(values: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(np.rint(values), 0, 255).astype(np.uint8)[..., None], 3, axis=3)


@pytest.fixture(scope="module")
def uniform_encoder():
    """Fitted on uniform grey frames: codes decode to exact uniform levels."""
    levels = np.array([0.0, 50, 100, 150, 200, 250])
    frames = _grey(np.broadcast_to(levels[:, None, None], (6, CODE[1], CODE[0])))
    return BuiltinImageEncoder(code_size=CODE, components=2, polarity="none").fit(frames)


@pytest.fixture(scope="module")
def square_encoder():
    """Fitted on dark frames with a white square of varying size (no polarity split)."""
    frames = np.zeros((8, CODE[1], CODE[0]), np.float32)
    for i in range(8):
        frames[i, 2 : 3 + i // 2, 3 : 4 + i] = 255
    return BuiltinImageEncoder(code_size=CODE, components=4, polarity="none").fit(_grey(frames)), _grey(frames)


def _plan(code, *, cut=False, strength=1.0, polarity=-1):
    return FramePlan(embedding=np.asarray(code, np.float32), cut=cut, strength=strength, polarity=polarity)


def _uniform_code(encoder, level):
    return encoder.encode_images(_grey(np.full((1, CODE[1], CODE[0]), float(level))))[0]


def test_renderer_protocol_and_resolved_config(uniform_encoder):
    renderer = BuiltinRenderer(uniform_encoder, (40, 30))
    assert isinstance(renderer, Renderer) and renderer.name == "builtin" and renderer.size == (40, 30)
    assert renderer.config == {"crispness": GREY_CRISPNESS, "fix_polarity": True, "interpolation": "cubic"}
    out = renderer.render([_plan(_uniform_code(uniform_encoder, 100), cut=True)], None, start=0)
    assert out.shape == (1, 30, 40, 3) and out.dtype == np.uint8


def test_colour_encoders_default_to_no_crispness_and_no_polarity():
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, size=(6, CODE[1], CODE[0], 3), dtype=np.uint8)
    encoder = BuiltinImageEncoder(code_size=CODE, components=3).fit(colour)
    config = BuiltinRenderer(encoder, CODE).config
    assert config == {"crispness": 0.0, "fix_polarity": False, "interpolation": "cubic"}


def test_light_plan_of_a_dark_frame_comes_out_inverted(square_encoder):
    encoder, frames = square_encoder
    renderer = BuiltinRenderer(encoder, CODE, crispness=0)
    code = encoder.encode_images(frames[5:6])[0]
    decoded = encoder.decode(code[None])[0]
    assert decoded.mean() < 128
    light = renderer.render([_plan(code, cut=True, polarity=1)], None, start=0)[0]
    dark = renderer.render([_plan(code, cut=True, polarity=-1)], None, start=0)[0]
    np.testing.assert_array_equal(light, 255 - decoded)
    np.testing.assert_array_equal(dark, decoded)
    assert light.mean() > 128
    unfixed = BuiltinRenderer(encoder, CODE, crispness=0, fix_polarity=False)
    np.testing.assert_array_equal(unfixed.render([_plan(code, cut=True, polarity=1)], None, start=0)[0], decoded)


def test_split_polarity_encoder_paints_the_plan_polarity():
    frames = np.zeros((6, CODE[1], CODE[0]), np.float32)
    for i in range(6):
        frames[i, 6:, 4 : 6 + i] = 255
    frames[::2] = 255 - frames[::2]
    encoder = BuiltinImageEncoder(code_size=CODE, components=6).fit(_grey(frames))
    assert encoder.split_polarity
    code = encoder.encode_images(_grey(frames[1:2]))[0]  # a dark frame, code[0] = -1
    renderer = BuiltinRenderer(encoder, CODE, crispness=0)
    light = renderer.render([_plan(code, cut=True, polarity=1)], None, start=0)[0]
    np.testing.assert_allclose(light[..., 0].astype(float), 255 - frames[1], atol=2)


def test_cut_ignores_the_previous_frame(uniform_encoder):
    renderer = BuiltinRenderer(uniform_encoder, CODE, crispness=0, fix_polarity=False)
    previous = np.full((CODE[1], CODE[0], 3), 255, np.uint8)
    out = renderer.render([_plan(_uniform_code(uniform_encoder, 50), cut=True, strength=0.1)], previous, start=7)
    assert np.all(out == 50)


def test_strength_blends_exactly_with_the_previous_frame(uniform_encoder):
    renderer = BuiltinRenderer(uniform_encoder, CODE, crispness=0, fix_polarity=False)
    previous = np.full((CODE[1], CODE[0], 3), 100, np.uint8)
    code = _uniform_code(uniform_encoder, 200)
    out = renderer.render([_plan(code, strength=0.25), _plan(code, strength=0.5)], previous, start=3)
    assert np.all(out[0] == 125)  # 0.25 * 200 + 0.75 * 100
    assert np.all(out[1] == 162)  # 0.5 * 200 + 0.5 * 125 = 162.5, rounded to even
    first = renderer.render([_plan(code, strength=0.25)], None, start=0)
    assert np.all(first == 200)  # nothing to blend with at the very start


def test_chunked_rendering_equals_one_run(square_encoder):
    encoder, frames = square_encoder
    codes = encoder.encode_images(frames)
    plans = [
        _plan(codes[i % 8], cut=i % 5 == 0, strength=0.3 + 0.05 * i, polarity=1 if i > 6 else -1)
        for i in range(12)
    ]
    renderer = BuiltinRenderer(encoder, (40, 30))
    whole = renderer.render(plans, None, start=0)
    first = renderer.render(plans[:5], None, start=0)
    rest = renderer.render(plans[5:], first[-1], start=5)
    np.testing.assert_array_equal(np.concatenate([first, rest]), whole)


def test_crispness_curve_fixes_the_ends_and_steepens_the_middle():
    table = crispness_curve(0.5)  # steepness 16
    assert table[0] == 0 and table[255] == pytest.approx(255)
    np.testing.assert_allclose(table + table[::-1], 255.0, atol=1e-3)  # symmetric about 127.5
    assert table[64] < 10 and table[192] > 245
    assert np.all(np.diff(table) > 0)
    np.testing.assert_array_equal(crispness_curve(0.0), np.arange(256, dtype=np.float32))
    hard = crispness_curve(1.0)
    assert hard[:128].max() == 0 and hard[128:].min() == 255
    assert crispness_curve(0.75)[100] < table[100] < crispness_curve(0.25)[100] < 100


def test_crispness_is_applied_to_painted_frames(uniform_encoder):
    renderer = BuiltinRenderer(uniform_encoder, CODE, crispness=0.5, fix_polarity=False)
    out = renderer.render([_plan(_uniform_code(uniform_encoder, 100), cut=True)], None, start=0)
    assert np.all(out == np.rint(crispness_curve(0.5)[100]))


def test_bad_inputs_raise_model_errors(uniform_encoder):
    with pytest.raises(ModelError):
        BuiltinRenderer(BuiltinImageEncoder(), CODE)  # not fitted
    with pytest.raises(ModelError):
        BuiltinRenderer(uniform_encoder, CODE, interpolation="lanczos")
    with pytest.raises(ModelError):
        BuiltinRenderer(uniform_encoder, CODE, crispness=8.0)
    renderer = BuiltinRenderer(uniform_encoder, CODE)
    with pytest.raises(ModelError):
        renderer.render([_plan(_uniform_code(uniform_encoder, 10))], np.zeros((5, 5, 3), np.uint8), start=1)
    assert renderer.render([], None, start=0).shape == (0, CODE[1], CODE[0], 3)
