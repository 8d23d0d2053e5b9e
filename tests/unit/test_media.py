"""Media I/O: probe, frame decoding and resampling, audio reading, encoding, bad inputs."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from avstudio.cancel import CancelToken
from avstudio.errors import Cancelled, ManifestError, MediaError
from avstudio.media.audio import iter_audio, read_audio, resample
from avstudio.media.decode import bare_decode_count, iter_frames
from avstudio.media.encode import VideoWriter, mux_audio, read_video_duration, write_wav
from avstudio.media.probe import analysis_size, probe
from tests.synthmedia import (
    cut_after_index,
    make_audio_file,
    make_text_file_named_mp4,
    make_video,
    make_zero_frame_video,
    moving_square,
    ramp_frames,
    solid_frames,
    tone,
    truncate_file,
)

SHARED = Path("/work/shared/media")
BUNNY = SHARED / "bigbuckbunny.mp4"
RGB = (200, 100, 50)
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """Small videos shared by the tests of this module."""
    d = tmp_path_factory.mktemp("media")
    return {
        # 2 s, 64x48, 10 fps, solid colour, mono 440 Hz tone.
        "solid": make_video(d / "solid.mp4", solid_frames(20, 48, 64, RGB), fps=10, audio=tone(2.0, 44100, 440.0)),
        # 2 s at 30 fps; frame i is grey level 8 * i (mod 256); no audio.
        "ramp": make_video(d / "ramp.mp4", ramp_frames(60, 48, 64), fps=30),
        # 4 s of texture at 25 fps in yuv420p, like a downloaded file.
        "texture": make_video(
            d / "texture.mp4", moving_square(100, 96, 128, step_px=2, size=400), fps=25, lossless=False, crf=30
        ),
    }


def frames_of(path, **kwargs) -> np.ndarray:
    return np.concatenate(list(iter_frames(path, **kwargs)))


# --------------------------------------------------------------------------- probe


def test_probe_reports_streams_and_timing(media):
    info = probe(media["solid"])
    assert (info.width, info.height) == (64, 48)
    assert info.fps == 10.0 and info.fps_fraction == (10, 1)
    assert info.n_frames == 20
    assert info.duration == pytest.approx(2.0, abs=1e-3)
    assert info.has_video and info.video_codec == "h264"
    assert info.has_audio and info.audio_rate == 44100 and info.audio_channels == 1 and info.audio_codec == "aac"
    assert info.path == str(media["solid"].resolve())
    data = info.to_json()
    assert data["fps_fraction"] == [10, 1] and data["n_frames"] == 20

    ramp = probe(media["ramp"])
    assert ramp.has_audio is False and ramp.audio_rate == 0 and ramp.audio_codec is None
    assert ramp.n_frames == 60 and ramp.duration == pytest.approx(2.0, abs=1e-3)


def test_probe_audio_only_file(tmp_path):
    info = probe(make_audio_file(tmp_path / "a.wav", tone(1.5, 22050, 300.0), 22050))
    assert info.has_video is False and info.n_frames == 0
    assert info.has_audio and info.audio_rate == 22050 and info.audio_channels == 1
    assert info.duration == pytest.approx(1.5, abs=1e-3)


@pytest.mark.parametrize(
    ("width", "height", "spec", "expected"),
    [
        (1280, 720, 256, (256, 144)),
        (1280, 720, "256", (256, 144)),
        (320, 240, "source", (320, 240)),
        (321, 241, "source", (320, 240)),  # odd sizes become even
        (320, 240, 1024, (320, 240)),  # never upscales
        (1920, 1080, 500, (500, 282)),
        (720, 1280, 256, (144, 256)),  # portrait
    ],
)
def test_analysis_size(width, height, spec, expected):
    assert analysis_size(width, height, spec) == expected


@pytest.mark.parametrize("spec", ["big", 0, -5, None])
def test_analysis_size_rejects_bad_spec(spec):
    with pytest.raises(ManifestError) as err:
        analysis_size(320, 240, spec)
    assert err.value.hint


# --------------------------------------------------------------------------- decoding


def test_iter_frames_chunks_and_colour(media):
    chunks = list(iter_frames(media["solid"], chunk=7))
    assert [len(c) for c in chunks] == [7, 7, 6]
    frames = np.concatenate(chunks)
    assert frames.shape == (20, 48, 64, 3) and frames.dtype == np.uint8
    # Lossless yuv444p: within the RGB->YUV->RGB rounding of one or two levels.
    assert np.abs(frames.astype(int) - RGB).max() <= 2


def test_iter_frames_scales_inside_ffmpeg(media):
    frames = frames_of(media["solid"], size=(32, 24))
    assert frames.shape == (20, 24, 32, 3)
    assert np.abs(frames.astype(int) - RGB).max() <= 2


def test_kept_chunks_are_never_overwritten(media):
    chunks = list(iter_frames(media["ramp"], chunk=4))  # keeps all 15 chunks alive
    levels = np.concatenate([c[:, 0, 0, 0] for c in chunks]).astype(int)
    assert np.abs(levels - (np.arange(60) * 8) % 256).max() <= 2


def test_first_chunks_ramp_up(media):
    assert [len(c) for c in iter_frames(media["texture"], chunk=256)] == [32, 64, 4]
    assert [len(c) for c in iter_frames(media["texture"], chunk=40)] == [32, 40, 28]


def test_chunks_are_capped_in_bytes(media):
    frame_bytes = 48 * 64 * 3
    chunks = list(iter_frames(media["solid"], chunk=256, max_chunk_bytes=3 * frame_bytes + 5))
    assert [len(c) for c in chunks] == [3] * 6 + [2]


def test_fps_resampling_picks_frames_by_timestamp(media):
    # Decoded grey level / 8 = source frame index.
    down = frames_of(media["ramp"], fps=10, chunk=7)
    assert len(down) == round(2.0 * 10)
    assert np.round(down[:, 0, 0, 0] / 8).astype(int).tolist() == [(3 * k) % 32 for k in range(20)]

    odd = frames_of(media["ramp"], fps=7)  # output k = latest source frame <= k/7 + 1/60
    assert len(odd) == round(2.0 * 7)
    expected = [int(np.floor((k / 7 + 1 / 60) * 30 + 1e-9)) % 32 for k in range(14)]
    assert np.round(odd[:, 0, 0, 0] / 8).astype(int).tolist() == expected

    up = frames_of(media["ramp"], fps=45)
    assert len(up) == 90
    assert np.round(up[:6, 0, 0, 0] / 8).astype(int).tolist() == [0, 1, 1, 2, 3, 3]


def test_fps_resampling_with_size(media):
    frames = frames_of(media["texture"], fps=10, size=analysis_size(128, 96, 64))
    assert frames.shape == (40, 48, 64, 3)


def test_bare_decode_count(media):
    assert bare_decode_count(media["ramp"]) == 60
    assert bare_decode_count(media["texture"]) == 100


def test_cancel_stops_decoding(media):
    token = CancelToken()
    seen = []
    with pytest.raises(Cancelled):
        for chunk in iter_frames(media["texture"], chunk=10, cancel=token):
            seen.append(len(chunk))
            token.cancel()
    assert seen == [10]
    assert not [t for t in threading.enumerate() if t.name == "avstudio-decode" and t.is_alive()]


def test_abandoned_iterator_stops_its_thread(media):
    it = iter_frames(media["texture"], chunk=5)
    next(it)
    it.close()
    assert not [t for t in threading.enumerate() if t.name == "avstudio-decode" and t.is_alive()]


# --------------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="file not found") as err:
        probe(tmp_path / "nope.mp4")
    assert err.value.hint
    with pytest.raises(MediaError, match="file not found"):
        next(iter_frames(tmp_path / "nope.mp4"))


def test_text_file_named_mp4(tmp_path):
    path = make_text_file_named_mp4(tmp_path / "fake.mp4")
    with pytest.raises(MediaError, match="not a media file") as err:
        probe(path)
    assert "mp4" in err.value.hint
    with pytest.raises(MediaError, match="not a media file"):
        read_audio(path)


def test_folder_empty_file_and_pipe(tmp_path):
    with pytest.raises(MediaError, match="folder"):
        probe(tmp_path)
    os.mkfifo(tmp_path / "pipe.mp4")
    with pytest.raises(MediaError, match="not a regular file"):
        probe(tmp_path / "pipe.mp4")  # would block forever if opened
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        probe(tmp_path / "empty.mp4")


@pytest.mark.skipif(IS_ROOT, reason="root reads any file")
def test_unreadable_file(media, tmp_path):
    path = tmp_path / "locked.mp4"
    path.write_bytes(media["solid"].read_bytes())
    path.chmod(0)
    with pytest.raises(MediaError, match="not readable"):
        probe(path)


def test_zero_frame_video(tmp_path):
    path = make_zero_frame_video(tmp_path / "zero.mp4")
    with pytest.raises(MediaError) as err:
        probe(path)
    assert "no video or audio streams" in err.value.message and err.value.hint
    with pytest.raises(MediaError):
        next(iter_frames(path))


def test_audio_file_has_no_frames(tmp_path):
    path = make_audio_file(tmp_path / "a.wav", tone(0.5, 8000, 200.0), 8000)
    with pytest.raises(MediaError, match="no video stream"):
        next(iter_frames(path))


def test_truncated_file_decodes_a_prefix_and_warns(media, tmp_path):
    path = tmp_path / "cut.mp4"
    path.write_bytes(media["texture"].read_bytes())  # faststart: the index comes first
    truncate_file(path, 0.5)
    warnings: list[str] = []
    frames = frames_of(path, chunk=16, on_warning=warnings.append)
    assert 20 < len(frames) < 100
    assert len(warnings) == 1 and "truncated" in warnings[0] and "\n" not in warnings[0]
    # Resampled: only up to the last decoded frame, never past it.
    resampled = frames_of(path, fps=10, on_warning=warnings.append)
    assert 0 < len(resampled) <= len(frames) * 10 / 25 + 1


def test_file_without_frame_data(media, tmp_path):
    path = tmp_path / "hollow.mp4"
    path.write_bytes(media["texture"].read_bytes())
    cut_after_index(path)
    assert probe(path).n_frames == 100  # the index still promises frames
    with pytest.raises(MediaError, match="no frames could be decoded") as err:
        frames_of(path)
    assert err.value.hint


def test_file_cut_inside_its_index_is_an_error(media, tmp_path):
    path = tmp_path / "cut.mp4"
    path.write_bytes(media["texture"].read_bytes())
    truncate_file(path, 0.01)
    with pytest.raises(MediaError):
        frames_of(path)


# --------------------------------------------------------------------------- audio


def test_mono_wav_round_trip(tmp_path):
    signal = tone(1.0, 22050, 440.0, amp=0.5)
    track = read_audio(make_audio_file(tmp_path / "mono.wav", signal, 22050))
    assert track.channels == 1 and track.sr == 22050 and track.samples.dtype == np.float32
    assert len(track.samples) == 22050
    assert np.abs(track.samples - signal).max() < 1e-3  # 16-bit PCM


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_stereo_file_is_mixed_to_mono(tmp_path, ext):
    left, right = tone(1.0, 16000, 300.0, amp=0.6), tone(1.0, 16000, 500.0, amp=0.2)
    path = make_audio_file(tmp_path / f"stereo.{ext}", np.stack([left, right], axis=1), 16000)
    track = read_audio(path)
    assert track.channels == 2 and track.sr == 16000
    mix = (left + right) / 2
    if ext == "ogg":  # lossy: compare loudness and length only
        assert abs(len(track.samples) - len(mix)) <= 16
        assert np.sqrt(np.mean(track.samples**2)) == pytest.approx(np.sqrt(np.mean(mix**2)), rel=0.05)
    else:
        assert len(track.samples) == len(mix)
        assert np.abs(track.samples - mix).max() < 1e-3


def test_audio_of_a_video(media):
    track = read_audio(media["solid"])
    assert track.channels == 1 and track.sr == 44100
    assert len(track.samples) == 88200  # mp4 declares the exact length; AAC padding is trimmed
    rms = np.sqrt(np.mean(track.samples[4410:-4410] ** 2))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


def test_video_without_audio(media):
    assert read_audio(media["ramp"]) is None
    with pytest.raises(MediaError, match="no audio stream"):
        next(iter_audio(media["ramp"]))


def test_read_audio_resamples_and_limits(tmp_path):
    path = make_audio_file(tmp_path / "t.wav", tone(2.0, 44100, 1000.0), 44100)
    track = read_audio(path, sr=16000, max_seconds=1.5)
    assert track.sr == 16000 and track.channels == 1
    assert len(track.samples) == 24000
    spectrum = np.abs(np.fft.rfft(track.samples))
    assert np.argmax(spectrum) * 16000 / len(track.samples) == pytest.approx(1000.0, abs=2.0)


def test_resample_length_and_identity():
    x = tone(1.0, 44100, 440.0)
    assert len(resample(x, 44100, 22050)) == 22050
    assert len(resample(x, 44100, 48000)) == 48000
    assert resample(x, 44100, 44100) is x


@pytest.mark.parametrize("sr", [None, 8000])
def test_iter_audio_streams_the_same_samples(tmp_path, sr):
    signal = np.random.default_rng(0).uniform(-0.5, 0.5, 3 * 22050).astype(np.float32)
    path = make_audio_file(tmp_path / "n.wav", signal, 22050)
    blocks = list(iter_audio(path, sr=sr, chunk_seconds=0.7))
    out_sr = sr or 22050
    assert all(len(b) == round(0.7 * out_sr) for b in blocks[:-1])
    joined = np.concatenate(blocks)
    whole = read_audio(path, sr=sr).samples
    assert len(joined) == len(whole)
    assert np.abs(joined - whole).max() < 1e-5


# --------------------------------------------------------------------------- encoding


@pytest.mark.parametrize("fps", [10, 30000 / 1001])
def test_video_writer_duration_is_exact(tmp_path, fps):
    path = tmp_path / "out.mp4"
    with VideoWriter(path, fps=fps, size=(64, 48), crf=30) as writer:
        writer.write(solid_frames(10, 48, 64, RGB))
        writer.write(solid_frames(15, 48, 64, RGB))
    info = probe(path)
    assert info.n_frames == 25 and not info.has_audio
    assert info.duration == pytest.approx(25 / fps, abs=1e-3)
    assert read_video_duration(path) == pytest.approx(25 / fps, abs=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # no temp file left


def test_video_writer_with_audio_pads_and_trims(tmp_path):
    short = tone(1.0, 22050, 440.0)  # 1 s of audio for a 2.5 s video: padded
    with VideoWriter(tmp_path / "a.mp4", fps=10, size=(64, 48), audio=short, audio_sr=22050) as writer:
        writer.write(solid_frames(25, 48, 64, RGB))
    info = probe(tmp_path / "a.mp4")
    assert info.has_audio and info.audio_channels == 1 and info.audio_rate == 22050
    track = read_audio(tmp_path / "a.mp4")
    assert len(track.samples) == pytest.approx(2.5 * 22050, abs=1024)
    assert np.abs(track.samples[int(1.2 * 22050) :]).max() < 0.01  # the padding is silence

    long = np.stack([tone(5.0, 22050, 440.0), tone(5.0, 22050, 660.0)], axis=1)  # trimmed
    with VideoWriter(tmp_path / "b.mp4", fps=10, size=(64, 48), audio=long, audio_sr=22050) as writer:
        writer.write(solid_frames(25, 48, 64, RGB))
    info = probe(tmp_path / "b.mp4")
    assert info.audio_channels == 2 and info.duration == pytest.approx(2.5, abs=1e-3)
    assert len(read_audio(tmp_path / "b.mp4").samples) == pytest.approx(2.5 * 22050, abs=1024)


def test_video_writer_is_atomic(tmp_path):
    path = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(path, fps=10, size=(64, 48)) as writer:
            writer.write(solid_frames(5, 48, 64, RGB))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_video_writer_rejects_bad_input(tmp_path):
    with pytest.raises(MediaError, match="even"):
        VideoWriter(tmp_path / "odd.mp4", fps=10, size=(63, 48))
    with VideoWriter(tmp_path / "x.mp4", fps=10, size=(64, 48)) as writer:
        with pytest.raises(MediaError, match="frames must be"):
            writer.write(np.zeros((2, 48, 32, 3), np.uint8))
        writer.write(np.zeros((48, 64, 3), np.uint8))  # a single frame is fine
    assert probe(tmp_path / "x.mp4").n_frames == 1
    with pytest.raises(MediaError, match="no frames were written"):
        with VideoWriter(tmp_path / "empty.mp4", fps=10, size=(64, 48)):
            pass
    assert [p.name for p in tmp_path.iterdir()] == ["x.mp4"]
    with pytest.raises(MediaError, match="folder does not exist"):
        VideoWriter(tmp_path / "missing" / "x.mp4", fps=10, size=(64, 48))


def test_mux_audio_copies_video_packets(media, tmp_path):
    import av

    out = tmp_path / "muxed.mp4"
    stereo = np.stack([tone(3.0, 22050, 300.0), tone(3.0, 22050, 600.0)], axis=1)
    mux_audio(media["texture"], stereo, 22050, out)

    def video_packets(path):
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(video=0) if p.size]

    assert video_packets(out) == video_packets(media["texture"])  # copied, not re-encoded
    info = probe(out)
    assert info.n_frames == 100 and info.duration == pytest.approx(4.0, abs=1e-3)
    assert info.has_audio and info.audio_channels == 2
    track = read_audio(out)
    assert len(track.samples) == pytest.approx(4.0 * 22050, abs=1024)
    assert np.abs(track.samples[int(3.2 * 22050) :]).max() < 0.01  # padded with silence


def test_mux_audio_in_place_replaces_audio(media, tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(media["solid"].read_bytes())
    mux_audio(path, tone(2.0, 16000, 200.0), 16000, path)
    info = probe(path)
    assert info.audio_rate == 16000 and info.n_frames == 20
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


@pytest.mark.skipif(not BUNNY.exists(), reason="shared media not present")
def test_real_hd_clip_at_analysis_size():
    info = probe(BUNNY)
    assert (info.width, info.height, info.fps, info.n_frames) == (1280, 720, 25.0, 132)
    size = analysis_size(info.width, info.height, 256)
    frames = frames_of(BUNNY, size=size, fps=10)
    assert frames.shape == (round(info.duration * 10), 144, 256, 3)
    assert 10 < frames.mean() < 245  # a real picture, not a blank


@pytest.mark.skipif(not BUNNY.exists(), reason="shared media not present")
def test_mux_audio_drops_a_surround_track(tmp_path):
    out = tmp_path / "bunny.mp4"
    before = probe(BUNNY)
    assert before.audio_channels == 6
    mux_audio(BUNNY, tone(6.0, 48000, 440.0), 48000, out)
    after = probe(out)
    assert after.n_frames == before.n_frames == 132
    assert after.duration == pytest.approx(before.duration, abs=1e-3)
    assert after.audio_channels == 1


def test_write_wav_round_trip(tmp_path):
    import soundfile

    signal = np.stack([tone(0.5, 8000, 100.0), tone(0.5, 8000, 200.0) * 3], axis=1)  # right channel clips
    write_wav(tmp_path / "x.wav", signal, 8000)
    data, sr = soundfile.read(str(tmp_path / "x.wav"), dtype="float32")
    assert sr == 8000 and data.shape == (4000, 2)
    assert np.abs(data[:, 0] - signal[:, 0]).max() < 1e-4
    assert data[:, 1].max() == pytest.approx(1.0, abs=1e-4)
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]


def test_write_wav_to_missing_folder(tmp_path):
    with pytest.raises(MediaError) as err:
        write_wav(tmp_path / "no" / "x.wav", np.zeros(10, np.float32), 8000)
    assert str(tmp_path / "no") in err.value.message


@pytest.mark.skipif(IS_ROOT, reason="root writes anywhere")
def test_write_wav_to_unwritable_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(MediaError, match="cannot write to folder") as err:
            write_wav(folder / "x.wav", np.zeros(10, np.float32), 8000)
        assert str(folder) in err.value.message
    finally:
        folder.chmod(0o700)
