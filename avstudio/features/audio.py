"""Per-video-frame audio features: loudness, onsets, brightness of sound.

The features are computed on librosa's hop grid (2048-sample windows, hop
512, centred frames) block by block, so memory stays bounded on long tracks,
then sampled at the middle of each video frame. Blocks overlap by enough hops
that every kept hop sees exactly the samples it would see in one pass, and the
onset envelope's 80 dB floor uses the whole track's maximum (found in a first
pass when the track spans several blocks), so the result equals the one-block
computation up to float rounding.
"""

from __future__ import annotations

import numpy as np

N_FFT = 2048
HOP = 512
N_MELS = 128
TOP_DB = 80.0
BLOCK_SECONDS = 60.0
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
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    out = {name: np.zeros(max(0, int(n_frames)), np.float32) for name in AUDIO_FEATURE_NAMES}
    if n_frames <= 0 or len(samples) == 0 or not np.any(samples):
        return out
    duration = len(samples) / sr
    if len(samples) < N_FFT:  # librosa needs a full window; zeros change no feature
        samples = np.pad(samples, (0, N_FFT - len(samples)))
    hops = _hop_features(samples, sr, block_seconds=block_seconds)

    t_hops = np.arange(len(hops["rms"])) * (HOP / sr)
    t_frames = (np.arange(n_frames) + 0.5) / fps
    beyond = t_frames > duration
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


def _spectra(y: np.ndarray, sr: int):
    """Magnitude spectrogram and log-mel power (dB, not floored) of a block."""
    import librosa

    mag = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP, center=True))
    mel = librosa.feature.melspectrogram(S=mag**2, sr=sr, n_mels=N_MELS, fmax=0.5 * sr)
    return mag, librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)


def _hop_features(samples: np.ndarray, sr: int, *, block_seconds: float) -> dict[str, np.ndarray]:
    """rms, onset and centroid on the hop grid, computed block by block."""
    import librosa

    n_hops = 1 + len(samples) // HOP
    block_hops = max(4 * _MARGIN_HOPS, int(block_seconds * sr / HOP))
    blocks = list(_blocks(len(samples), block_hops))
    rms = np.zeros(n_hops, np.float32)
    centroid = np.zeros(n_hops, np.float32)
    onset = np.zeros(n_hops, np.float32)

    cached = None
    peak_db = -np.inf
    for j0, j1, s0, s1 in blocks:  # pass 1: frame-local features and the track's peak level
        y = samples[s0:s1]
        keep = slice(j0 - s0 // HOP, j1 - s0 // HOP)
        mag, mel_db = _spectra(y, sr)
        rms[j0:j1] = librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP, center=True)[0, keep]
        centroid[j0:j1] = librosa.feature.spectral_centroid(S=mag, sr=sr, n_fft=N_FFT, hop_length=HOP)[0, keep]
        peak_db = max(peak_db, float(mel_db[:, keep].max()))
        if len(blocks) == 1:
            cached = mel_db

    for j0, j1, s0, s1 in blocks:  # pass 2: onset envelope with the track-wide 80 dB floor
        keep = slice(j0 - s0 // HOP, j1 - s0 // HOP)
        mel_db = cached if cached is not None else _spectra(samples[s0:s1], sr)[1]
        floored = np.maximum(mel_db, peak_db - TOP_DB)
        env = librosa.onset.onset_strength(S=floored, sr=sr, hop_length=HOP, n_fft=N_FFT)
        onset[j0:j1] = env[keep]
    return {"rms": rms, "onset": onset, "centroid": centroid}
