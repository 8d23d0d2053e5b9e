"""Visual features: known colours give known values; motion in source pixels; chunking is seamless."""

from __future__ import annotations

import numpy as np
import pytest

from avstudio.errors import StageError
from avstudio.features.visual import FEATURE_NAMES, VisualFeatureExtractor, flow_resolution, nan_check
from avstudio.media.decode import iter_frames
from tests.synthmedia import make_video, moving_square, solid_frames

W, H = 64, 48
RGB = (200, 100, 50)
BT601 = 0.299 * 200 + 0.587 * 100 + 0.114 * 50  # 124.2


def features_of(path, *, chunk=256, size=None, source_size=(W, H), **kwargs) -> dict[str, np.ndarray]:
    extractor = VisualFeatureExtractor(source_size=source_size, **kwargs)
    parts = [extractor.update(frames) for frames in iter_frames(path, chunk=chunk, size=size)]
    return {name: np.concatenate([p[name] for p in parts]) for name in FEATURE_NAMES}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("visual")
    return {
        "solid": make_video(d / "solid.mp4", solid_frames(20, H, W, RGB), fps=10),  # 2 s
        "dark": make_video(d / "dark.mp4", solid_frames(20, H, W, (20, 30, 40)), fps=10),
        "bright": make_video(d / "bright.mp4", solid_frames(20, H, W, (240, 230, 220)), fps=10),
        "pan": make_video(d / "pan.mp4", moving_square(24, 96, 128, step_px=3, size=300), fps=24),
    }


def test_solid_colour_clip(clips):
    f = features_of(clips["solid"])
    assert set(f) == set(FEATURE_NAMES)
    assert all(len(v) == 20 for v in f.values())
    assert f["avg_color"].shape == (20, 3) and f["avg_color"].dtype == np.float32
    assert np.abs(f["avg_color"] - RGB).max() <= 1.5
    assert np.abs(f["brightness"] - BT601).max() <= 1.0
    assert f["contrast"].max() < 0.5
    assert np.all(f["motion"] == 0.0)  # nothing moves


def test_mass_of_dark_and_bright_clips(clips):
    dark = features_of(clips["dark"])
    assert np.all(dark["mass"] == W * H) and np.all(dark["mass_fraction"] == 1.0)
    bright = features_of(clips["bright"])
    assert np.all(bright["mass"] == 0.0)


def test_mass_is_in_source_pixels(clips):
    # Decoded at half size, reported for the 64x48 source.
    dark = features_of(clips["dark"], size=(32, 24))
    assert np.all(dark["mass"] == W * H)


def test_mass_range_is_inclusive_and_needs_all_channels():
    frame = np.zeros((1, 2, 4, 3), np.uint8)
    frame[0, 0] = [(10, 10, 10), (50, 50, 50), (51, 10, 10), (9, 20, 20)]
    frame[0, 1] = [(10, 50, 30), (255, 255, 255), (30, 30, 30), (50, 9, 50)]
    f = VisualFeatureExtractor(source_size=(40, 20), mass_range=(10, 50)).update(frame)
    # In range: (10,10,10) (50,50,50) (10,50,30) (30,30,30) -> 4 of 8.
    assert f["mass_fraction"][0] == pytest.approx(0.5)
    assert f["mass"][0] == pytest.approx(0.5 * 40 * 20)


def test_brightness_uses_bt601_and_contrast_is_grey_std():
    red = np.zeros((1, 8, 8, 3), np.uint8)
    red[..., 0] = 255
    half = np.zeros((1, 8, 8, 3), np.uint8)
    half[:, :, 4:] = 255
    f = VisualFeatureExtractor(source_size=(8, 8)).update(np.concatenate([red, half]))
    assert f["brightness"][0] == pytest.approx(0.299 * 255, abs=0.5)
    assert f["contrast"][0] == pytest.approx(0.0, abs=1e-6)
    assert f["brightness"][1] == pytest.approx(127.5, abs=1e-4)
    assert f["contrast"][1] == pytest.approx(127.5, abs=1e-4)
    assert f["avg_color"][0].tolist() == [255.0, 0.0, 0.0]


@pytest.mark.parametrize("step", [2, 4])
def test_motion_is_in_source_pixels_per_frame(step):
    # 128x96 frames, flow at 64x48: each flow pixel is 2 source pixels.
    frames = moving_square(10, 96, 128, step_px=step, size=128 + 10 * step + 96)  # fills the view
    extractor = VisualFeatureExtractor(source_size=(128, 96), flow_size=64)
    motion = extractor.update(frames)["motion"]
    assert motion[0] == 0.0
    assert np.all(np.abs(motion[1:] - step) <= 0.15 * step)


def test_motion_scales_to_the_source_when_decoded_smaller():
    # Frames analysed at half the source size: motion still counts source pixels.
    frames = moving_square(8, 96, 128, step_px=4, size=300)[:, ::2, ::2]
    motion = VisualFeatureExtractor(source_size=(128, 96), flow_size=48).update(np.ascontiguousarray(frames))["motion"]
    assert np.all(np.abs(motion[1:] - 4) <= 0.6)


def test_a_square_reads_its_own_speed_whatever_its_size():
    frames = moving_square(10, 96, 128, step_px=4, size=40)
    motion = VisualFeatureExtractor(source_size=(128, 96), flow_size=64).update(frames)["motion"]
    assert np.all(np.abs(motion[1:] - 4) <= 0.15 * 4)


@pytest.mark.parametrize("step", [2, 4, 8])
def test_a_square_on_a_640x360_clip_reads_its_speed_at_the_default_settings(tmp_path, step):
    """Encoded with x264 (crf 20), analysed at 160 px with flow at 48 px, as `avstudio run` does."""
    from avstudio.media.decode import iter_frames
    from tests.synthmedia import make_video

    clip = make_video(tmp_path / "square.mp4", moving_square(30, 360, 640, step_px=step, size=100), fps=30,
                      lossless=False)
    frames = np.concatenate(list(iter_frames(clip, fps=30, size=(160, 90))))
    motion = VisualFeatureExtractor(source_size=(640, 360)).update(frames)["motion"]
    assert abs(float(np.median(motion[1:])) - step) <= 0.15 * step


def test_a_still_picture_with_codec_noise_reads_no_motion(tmp_path):
    from avstudio.media.decode import iter_frames
    from tests.synthmedia import make_video

    still = np.repeat(moving_square(1, 360, 640, step_px=0, size=200), 30, axis=0)
    clip = make_video(tmp_path / "still.mp4", still, fps=30, lossless=False, crf=28)
    frames = np.concatenate(list(iter_frames(clip, fps=30, size=(160, 90))))
    assert len({f.tobytes() for f in frames}) > 1  # x264 noise: the frames differ
    motion = VisualFeatureExtractor(source_size=(640, 360)).update(frames)["motion"]
    assert float(motion.max()) < 0.3


def test_chunk_boundaries_are_seamless(clips):
    small = features_of(clips["pan"], chunk=3, source_size=(128, 96), flow_size=48)
    whole = features_of(clips["pan"], chunk=256, source_size=(128, 96), flow_size=48)
    for name in FEATURE_NAMES:
        np.testing.assert_allclose(small[name], whole[name], rtol=1e-6, atol=1e-6, err_msg=name)
    assert small["motion"][0] == 0.0
    assert np.all(np.abs(small["motion"][1:] - 3) <= 0.45)


def test_reset_starts_a_new_video():
    frames = moving_square(4, 48, 64, step_px=2, size=200)
    extractor = VisualFeatureExtractor(source_size=(64, 48))
    extractor.update(frames)
    extractor.reset()
    assert extractor.update(frames)["motion"][0] == 0.0


def test_flow_resolution_never_upscales():
    assert flow_resolution(64, 48, 96) == (64, 48)
    assert flow_resolution(320, 240, 64) == (64, 48)
    assert flow_resolution(1280, 720, 64) == (64, 36)


def test_rejects_bad_arguments():
    with pytest.raises(StageError, match="mass range"):
        VisualFeatureExtractor(source_size=(8, 8), mass_range=(100, 10))
    with pytest.raises(StageError, match="expected frames"):
        VisualFeatureExtractor(source_size=(8, 8)).update(np.zeros((2, 8, 8), np.uint8))


def test_empty_chunk():
    f = VisualFeatureExtractor(source_size=(8, 8)).update(np.zeros((0, 8, 8, 3), np.uint8))
    assert f["avg_color"].shape == (0, 3) and f["motion"].shape == (0,)


def test_nan_check_names_feature_and_frame():
    good = {"brightness": np.ones(5, np.float32), "avg_color": np.ones((5, 3), np.float32)}
    nan_check(good)
    bad = dict(good, avg_color=good["avg_color"].copy())
    bad["avg_color"][3, 1] = np.nan
    with pytest.raises(StageError, match=r"'avg_color'.*frame 3") as err:
        nan_check(bad)
    assert err.value.hint
    with pytest.raises(StageError, match="frame 0"):
        nan_check({"motion": np.array([np.inf, 0.0])})
