"""Per-video-frame audio features: loudness, onsets, brightness of sound.

The features are computed on librosa's hop grid (2048-sample windows, hop
512, centred frames) with the same definitions as librosa's ``stft``,
``melspectrogram`` (Slaney mel), ``rms``, ``spectral_centroid`` and
``onset_strength``, in numpy (importing librosa alone costs ~2 s), block by block, so memory stays bounded on long tracks,
then sampled at the middle of each video frame. Blocks overlap by enough hops
that every kept hop sees exactly the samples it would see in one pass, and the
onset envelope's 80 dB floor uses the whole track's maximum (found in a first
pass when the track spans several blocks), so the result equals the one-block
computation up to float rounding.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

N_FFT = 2048
HOP = 512
N_MELS = 128
TOP_DB = 80.0
BLOCK_SECONDS = 15.0
AUDIO_FEATURE_NAMES: tuple[str, ...] = ("rms", "onset", "centroid")

# Hops of context on each side of a block: a window reaches N_FFT / 2 samples
# around its centre (2 hops) and the onset envelope looks 3 hops back.
_MARGIN_HOPS = N_FFT // HOP + 3


def audio_features(
    samples: np.ndarray,
    sr: int,
    *,
    fps: float,
    n_frames: int,
    block_seconds: float = BLOCK_SECONDS,
) -> dict[str, np.ndarray]:
    """Audio features aligned to video frames.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono audio in [-1, 1].
    sr : int
        Sample rate.
    fps : float
        Video frame rate; frame ``k``'s value is taken at ``(k + 0.5) / fps``
        seconds (linear interpolation between hops).
    n_frames : int
        Number of video frames.
    block_seconds : float
        Audio analysed per block (memory bound).

    Returns
    -------
    dict of np.ndarray [shape=(n_frames,), float32]
        ``rms`` : root mean square of each 2048-sample window, 0..1.
        ``onset`` : librosa's onset strength (mean positive change of the
        log-mel spectrum; note librosa places it ~2 hops after the change).
        ``centroid`` : spectral centroid in Hz (0 for silence).
        Frames past the end of the audio, and silent audio, give 0, never NaN.
    """
    return frame_features(hop_features(samples, sr, block_seconds=block_seconds), fps=fps, n_frames=n_frames)


def hop_features(samples: np.ndarray, sr: int, *, block_seconds: float = BLOCK_SECONDS) -> dict[str, np.ndarray]:
    """rms, onset and centroid on the hop grid [shape=(hops,), float32], plus ``sr`` and ``duration``.

    ``samples`` may be any 1-D sliceable (an array, a memmap, an h5py dataset):
    it is read block by block.
    """
    if not hasattr(samples, "shape") or getattr(samples, "ndim", 1) != 1:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    duration = len(samples) / sr if sr else 0.0
    if len(samples) == 0:
        return {"sr": sr, "duration": 0.0}
    if len(samples) < N_FFT:  # a full window is needed; zeros change no feature
        samples = np.pad(np.asarray(samples[:], np.float32), (0, N_FFT - len(samples)))
    return {**_hop_features(samples, sr, block_seconds=block_seconds), "sr": sr, "duration": duration}


def frame_features(hops: dict[str, Any], *, fps: float, n_frames: int) -> dict[str, np.ndarray]:
    """Hop-grid features sampled at each video frame's middle, ``(k + 0.5) / fps`` (zeros past the audio)."""
    out = {name: np.zeros(max(0, int(n_frames)), np.float32) for name in AUDIO_FEATURE_NAMES}
    if n_frames <= 0 or "rms" not in hops or not np.any(hops["rms"]):  # no audio, or silence
        return out
    t_hops = np.arange(len(hops["rms"])) * (HOP / hops["sr"])
    t_frames = (np.arange(n_frames) + 0.5) / fps
    beyond = t_frames > hops["duration"]
    for name in AUDIO_FEATURE_NAMES:
        values = np.interp(t_frames, t_hops, hops[name])
        values[beyond] = 0.0
        out[name][:] = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def _blocks(n_samples: int, block_hops: int):
    """Yield (first hop kept, end hop kept, first sample, end sample) per block."""
    n_hops = 1 + n_samples // HOP
    for j0 in range(0, n_hops, block_hops):
        j1 = min(j0 + block_hops, n_hops)
        s0 = max(0, (j0 - _MARGIN_HOPS) * HOP)
        s1 = min(n_samples, (j1 + _MARGIN_HOPS) * HOP)
        yield j0, j1, s0, s1


def _frames(y: np.ndarray) -> np.ndarray:
    """Centred, zero-padded frames [shape=(n_hops, N_FFT)] (librosa ``center=True``)."""
    padded = np.pad(y.astype(np.float32, copy=False), N_FFT // 2)
    n = 1 + (len(padded) - N_FFT) // HOP
    return np.lib.stride_tricks.as_strided(padded, (n, N_FFT), (padded.strides[0] * HOP, padded.strides[0]))


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, np.float64)
    mel = f / (200.0 / 3)
    log = f >= 1000.0
    return np.where(log, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


@functools.lru_cache(maxsize=8)
def mel_filterbank(sr: int) -> np.ndarray:
    """Slaney-normalised triangular mel filters [shape=(N_MELS, N_FFT // 2 + 1)] up to sr / 2."""
    fft_freqs = np.linspace(0, sr / 2, N_FFT // 2 + 1)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2), N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:N_MELS + 2] - mel_f[:N_MELS]))[:, None]
    return weights.astype(np.float32)


@functools.lru_cache(maxsize=2)
def _hann() -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def _spectra(y: np.ndarray, sr: int):
    """Magnitude spectrogram [shape=(bins, hops)] and log-mel power (dB, not floored) of a block."""
    from scipy import fft

    mag = np.abs(fft.rfft(_frames(y) * _hann(), axis=1, workers=1)).T
    mel = mel_filterbank(sr) @ (mag * mag)
    return mag, 10.0 * np.log10(np.maximum(mel, 1e-10))


def _rms(y: np.ndarray) -> np.ndarray:
    frames = _frames(y)
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)).astype(np.float32)


def _centroid(mag: np.ndarray, sr: int) -> np.ndarray:
    freqs = np.linspace(0, sr / 2, mag.shape[0], dtype=np.float64)
    total = mag.sum(axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (freqs @ mag.astype(np.float64)) / total
    return np.where(total > np.finfo(np.float32).tiny, c, 0.0).astype(np.float32)


def _onset(mel_db: np.ndarray) -> np.ndarray:
    """librosa's onset_strength (lag 1, mean over bands, centred): positive spectral flux shifted by 3 hops."""
    flux = np.maximum(0.0, mel_db[:, 1:] - mel_db[:, :-1]).mean(axis=0)
    pad = 1 + N_FFT // (2 * HOP)
    return np.concatenate([np.zeros(pad, np.float32), flux.astype(np.float32)])[: mel_db.shape[1]]


def _hop_features(samples: np.ndarray, sr: int, *, block_seconds: float) -> dict[str, np.ndarray]:
    """rms, onset and centroid on the hop grid, computed block by block."""
    n_hops = 1 + len(samples) // HOP
    block_hops = max(4 * _MARGIN_HOPS, int(block_seconds * sr / HOP))
    blocks = list(_blocks(len(samples), block_hops))
    rms = np.zeros(n_hops, np.float32)
    centroid = np.zeros(n_hops, np.float32)
    onset = np.zeros(n_hops, np.float32)

    cached = None
    peak_db = -np.inf
    for j0, j1, s0, s1 in blocks:  # pass 1: frame-local features and the track's peak level
        y = np.asarray(samples[s0:s1], np.float32)
        keep = slice(j0 - s0 // HOP, j1 - s0 // HOP)
        mag, mel_db = _spectra(y, sr)
        rms[j0:j1] = _rms(y)[keep]
        centroid[j0:j1] = _centroid(mag, sr)[keep]
        peak_db = max(peak_db, float(mel_db[:, keep].max()))
        if len(blocks) == 1:
            cached = mel_db

    for j0, j1, s0, s1 in blocks:  # pass 2: onset envelope with the track-wide 80 dB floor
        keep = slice(j0 - s0 // HOP, j1 - s0 // HOP)
        mel_db = cached if cached is not None else _spectra(np.asarray(samples[s0:s1], np.float32), sr)[1]
        onset[j0:j1] = _onset(np.maximum(mel_db, peak_db - TOP_DB))[keep]
    return {"rms": rms, "onset": onset, "centroid": centroid}
