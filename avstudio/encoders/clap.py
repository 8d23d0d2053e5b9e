"""CLAP audio embeddings (``laion/clap-htsat-unfused``), batched, offline.

The model and its feature extractor are read from a local folder or the local
Hugging Face cache (:func:`~avstudio.models.resolve.resolve_model`); nothing is
downloaded.

Window policy
-------------
CLAP's HTSAT audio tower has a fixed input: the feature extractor turns every
clip into a log-mel spectrogram of ``max_length_s`` = 10 s (1001 frames x 64 mel
bins) and the model resizes that to a 256 x 256 "image". A 1 s window therefore
costs exactly as much as a 10 s one. Shorter clips are "repeatpad"-ed: tiled
``int(10 s / window)`` times, then zero-padded, which is how CLAP saw short
clips in training, so it is kept here (the original project ran it the same
way, one window per video frame, batch 1).

Measured on the project's CPU machine (2 cores shared with other jobs, hence
ranges; real-size htsat-unfused audio tower, 28 M parameters, random weights):
the tower takes 0.45-0.95 s per window at batch 4-8 (1-3 s at batch 1), the
numpy feature extractor 40-150 ms per window (it builds and transforms the
480 000-sample tiled clip in float64), the torch log-mel 5-25 ms; the
window length changes none of it. One window per frame at 30 fps is 30 encodes
per second of audio (15-30 s of CPU per second of audio here). Hence:

* **Embedding rate** (``embed_hop_seconds``, default a quarter of the window,
  0.25 s for 1 s windows). :meth:`ClapAudioEncoder.encode_track` encodes the
  windows of every ``m = round(hop * fps)``-th frame (plus the last frame) and
  interpolates the frames between them (linear interpolation of the unit
  vectors, then renormalised). A window moves by about a quarter of its
  length between two encoded frames, so neighbouring encoded windows share
  about 75 % of their samples and their embeddings differ little; at 30 fps
  (m = 8) this encodes 8x fewer windows. Encoded frames get exactly the
  embedding :meth:`encode_audio` gives their window. ``embed_hop_seconds=0`` encodes
  every frame (the original behaviour).
* **Context**. Since the model pays for 10 s anyway, ``window_seconds`` up to
  the extractor's ``max_length_s`` costs nothing extra: longer windows give
  slower-moving, more "scene-level" embeddings, 1 s (the default, as in the
  original) follows the music closely. This is a user choice, not a speed one.

The log-mel spectrogram is computed with ``torch.stft`` on the model's device
from the folder's extractor settings (same Hann window, reflect padding, Slaney
mel filters and dB scale as ``ClapFeatureExtractor`` with
``truncation="rand_trunc"``; equal to it within 1e-3 dB). This removes the
per-window float64 numpy STFT that would otherwise dominate on a GPU machine.
Windows longer than the fixed input are centre-cropped (the extractor crops at
random), so embeddings are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from avstudio.cancel import NEVER, CancelToken
from avstudio.errors import ModelError
from avstudio.models.device import dtype_name, oom_guard, pick_device, pick_dtype
from avstudio.models.resolve import quiet_loading, resolve_model

DEFAULT_MODEL = "laion/clap-htsat-unfused"


class ClapAudioEncoder:
    """Audio windows -> unit-norm CLAP audio embeddings.

    Parameters
    ----------
    model_ref : str
        Local folder or Hugging Face id of a CLAP checkpoint (``config.json``,
        ``preprocessor_config.json`` and weights).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    batch_size : int
        Windows per forward pass.
    window_seconds : float
        Window length centred on each frame.
    embed_hop_seconds : float, optional
        Seconds between encoded windows in :meth:`encode_track`; None for a
        quarter of ``window_seconds``, 0 to encode every frame.
    dtype : str
        Model dtype (``"float32"`` default: embeddings are training data; the
        tower is cheap next to painting).
    base_dir : path, optional
        Folder relative model paths are relative to (the workspace).

    Attributes
    ----------
    name : str
        ``"clap:<model_ref>"``.
    dim : int
        Projection dimension from the checkpoint's config (512 for htsat-unfused).
    sample_rate : int
        48000 for the released checkpoints (from the feature extractor).
    """

    def __init__(
        self,
        model_ref: str = DEFAULT_MODEL,
        *,
        device: str = "auto",
        batch_size: int = 16,
        window_seconds: float = 1.0,
        embed_hop_seconds: float | None = None,
        dtype: str = "float32",
        base_dir: Any = None,
    ) -> None:
        import torch
        from transformers import ClapAudioModelWithProjection, ClapFeatureExtractor

        if window_seconds <= 0:
            raise ModelError(
                f"window length must be positive, got {window_seconds}", hint="set encoders.window_seconds > 0"
            )
        folder = resolve_model(
            model_ref,
            role="CLAP audio encoder",
            required=("config.json", "preprocessor_config.json", "model.safetensors|pytorch_model.bin"),
            base=base_dir,
            setting="encoders.audio = 'clap:/path/to/folder'",
        )
        self.device = pick_device(device, setting="encoders.device")
        self.dtype = pick_dtype(dtype, self.device, setting="encoders.dtype")
        with quiet_loading():
            extractor = ClapFeatureExtractor.from_pretrained(folder, local_files_only=True)
            model = ClapAudioModelWithProjection.from_pretrained(folder, local_files_only=True, dtype=self.dtype)
        if model.config.enable_fusion:
            raise ModelError(
                f"CLAP checkpoint {model_ref} uses feature fusion, which avstudio does not support",
                hint=f"use the unfused checkpoint: encoders.audio = 'clap:{DEFAULT_MODEL}'",
            )
        self.model = model.to(self.device).eval()
        self.batch_size = max(1, int(batch_size))
        self.window_seconds = float(window_seconds)
        hop = self.window_seconds / 4 if embed_hop_seconds is None else float(embed_hop_seconds)
        self.embed_hop_seconds = max(0.0, hop)
        self.sample_rate = int(extractor.sampling_rate)
        self.dim = int(model.config.projection_dim)
        self.name = f"clap:{model_ref}"
        self._max_samples = int(extractor.nb_max_samples)
        self._padding = str(extractor.padding)
        self._n_fft = int(extractor.fft_window_size)
        self._hop_length = int(extractor.hop_length)
        self._mel = torch.tensor(extractor.mel_filters_slaney, dtype=torch.float32, device=self.device)
        self._window = torch.hann_window(self._n_fft, periodic=True, dtype=torch.float32, device=self.device)
        self.config: dict[str, Any] = {
            "model": model_ref,
            "window_seconds": self.window_seconds,
            "embed_hop_seconds": self.embed_hop_seconds,
            "padding": self._padding,
            "dtype": dtype_name(self.dtype),
        }

    # -- features ---------------------------------------------------------------------
    def _fit_length(self, windows: np.ndarray) -> np.ndarray:
        """Bring windows to the fixed input length: repeat-pad short ones, centre-crop long ones.

        Parameters
        ----------
        windows : np.ndarray [shape=(n, L), float32]

        Returns
        -------
        np.ndarray [shape=(n, max_samples), float32]
        """
        n, length = windows.shape
        target = self._max_samples
        if length > target:
            first = (length - target) // 2
            return windows[:, first : first + target]
        if length < target and self._padding in ("repeatpad", "repeat"):
            reps = target // length + (1 if self._padding == "repeat" else 0)
            windows = np.tile(windows, (1, reps))[:, :target]
        if windows.shape[1] < target:
            windows = np.pad(windows, ((0, 0), (0, target - windows.shape[1])))
        return windows

    def log_mel(self, windows: np.ndarray):
        """The model input of a batch of windows, computed on the model's device.

        Parameters
        ----------
        windows : np.ndarray [shape=(n, L), float32]
            Mono windows at :attr:`sample_rate`.

        Returns
        -------
        torch.Tensor [shape=(n, 1, frames, n_mels), float32]
            Log-mel spectrogram in dB of each fixed-length (padded) window,
            as ``ClapFeatureExtractor(truncation="rand_trunc")`` computes it.
        """
        import torch

        clips = torch.from_numpy(np.ascontiguousarray(self._fit_length(windows), dtype=np.float32)).to(self.device)
        spec = torch.stft(
            clips,
            self._n_fft,
            self._hop_length,
            window=self._window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()  # (n, freq, frames)
        mel = torch.einsum("nft,fm->ntm", power, self._mel)
        return (10.0 * torch.log10(mel.clamp_min(1e-10)))[:, None]

    # -- encoding ---------------------------------------------------------------------
    def encode_audio(self, windows: np.ndarray, sr: int, *, cancel: CancelToken = NEVER) -> np.ndarray:
        """Embed audio windows, ``batch_size`` at a time.

        Parameters
        ----------
        windows : np.ndarray [shape=(n, samples), float32]
            Mono windows, one per frame.
        sr : int
            Their sample rate; must equal :attr:`sample_rate`.
        cancel : CancelToken
            Checked between batches.

        Returns
        -------
        np.ndarray [shape=(n, dim), float32]
            Unit-norm embeddings (as ``ClapModel.get_audio_features``).
        """
        import torch

        self._check_rate(sr)
        windows = np.asarray(windows, dtype=np.float32)
        if windows.ndim != 2:
            raise ModelError(f"audio windows must be (n, samples), got shape {windows.shape}")
        out = np.zeros((windows.shape[0], self.dim), dtype=np.float32)
        with oom_guard("encoding audio with CLAP", hint="lower encoders.batch_size"), torch.inference_mode():
            for first in range(0, windows.shape[0], self.batch_size):
                cancel.check()
                batch = windows[first : first + self.batch_size]
                features = self.log_mel(batch).to(self.dtype)
                is_longer = torch.zeros((len(batch), 1), dtype=torch.bool, device=self.device)
                embeds = self.model(input_features=features, is_longer=is_longer).audio_embeds
                embeds = torch.nn.functional.normalize(embeds.float(), dim=-1)
                out[first : first + len(batch)] = embeds.cpu().numpy()
        return out

    def encode_track(
        self,
        samples: np.ndarray,
        sr: int,
        *,
        fps: float,
        n_frames: int,
        cancel: CancelToken = NEVER,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Embed every frame of a track, encoding one window every ``embed_hop_seconds``.

        Windows are centred on frame times as in :mod:`avstudio.encoders.windows`
        (``(k + 0.5) / fps``, zero-padded past the ends). The windows of frames
        ``0, m, 2m, ...`` and of the last frame are encoded, with
        ``m = max(1, round(embed_hop_seconds * fps))``; the frames between are
        interpolated (normalised linear interpolation). With ``m == 1`` this is
        exactly :meth:`encode_audio` on every frame's window.

        Parameters
        ----------
        samples : np.ndarray [shape=(n,), float32]
            The mono track at ``sr``.
        sr : int
            Its sample rate; must equal :attr:`sample_rate`.
        fps : float
            Video frame rate.
        n_frames : int
            Number of video frames.
        cancel : CancelToken
            Checked between batches.
        progress : callable, optional
            ``progress(done, total)`` in encoded windows, after each batch.

        Returns
        -------
        np.ndarray [shape=(n_frames, dim), float32]
        """
        self._check_rate(sr)
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        n_frames = int(n_frames)
        if n_frames <= 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        anchors, starts = self.anchor_plan(n_frames, sr=sr, fps=fps)
        encoded = self.encode_anchors(samples, starts, sr=sr, cancel=cancel,
                                      progress=(lambda d: progress(d, len(anchors))) if progress else None)
        return self.spread(anchors, encoded, n_frames)

    def anchor_plan(self, n_frames: int, *, sr: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
        """The frames whose windows are encoded (every ``embed_hop_seconds`` and the last) and their first samples.

        Returns
        -------
        anchors : np.ndarray [shape=(k,), int64]
        starts : np.ndarray [shape=(k,), int64]
            First sample of each anchor's window (negative before the track).
        """
        from avstudio.encoders.windows import window_starts

        step = max(1, int(round(self.embed_hop_seconds * fps)))
        anchors = np.arange(0, n_frames, step)
        if anchors[-1] != n_frames - 1:
            anchors = np.append(anchors, n_frames - 1)
        return anchors, window_starts(n_frames, sr=sr, fps=fps, window_seconds=self.window_seconds)[anchors]

    def encode_anchors(self, samples: np.ndarray, starts: np.ndarray, *, sr: int, cancel: CancelToken = NEVER,
                       progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed the windows that begin at ``starts`` (any subset of an :meth:`anchor_plan`) [shape=(k, dim)]."""
        from avstudio.encoders.windows import window_length

        length = window_length(sr, self.window_seconds)
        encoded = np.zeros((len(starts), self.dim), dtype=np.float32)
        for first in range(0, len(starts), self.batch_size):
            cancel.check()
            block = starts[first : first + self.batch_size]
            encoded[first : first + len(block)] = self.encode_audio(_cut_windows(samples, block, length), sr,
                                                                    cancel=cancel)
            if progress is not None:
                progress(first + len(block))
        return encoded

    @staticmethod
    def spread(anchors: np.ndarray, encoded: np.ndarray, n_frames: int) -> np.ndarray:
        """Every frame's embedding from the anchors' (normalised linear interpolation) [shape=(n_frames, dim)]."""
        if len(anchors) == n_frames:
            return encoded
        return _interpolate_unit(anchors, encoded, n_frames)

    def _check_rate(self, sr: int) -> None:
        if int(sr) != self.sample_rate:
            raise ModelError(
                f"CLAP needs audio at {self.sample_rate} Hz, got {sr} Hz",
                hint="resample the track to the encoder's sample_rate first",
            )


def _cut_windows(samples: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Windows of ``length`` samples from each start, zero-padded outside the track.

    Returns
    -------
    np.ndarray [shape=(len(starts), length), float32]
    """
    out = np.zeros((len(starts), length), dtype=np.float32)
    n = samples.shape[0]
    for row, start in enumerate(starts.tolist()):
        a, b = max(start, 0), min(start + length, n)
        if b > a:
            out[row, a - start : b - start] = samples[a:b]
    return out


def _interpolate_unit(anchors: np.ndarray, values: np.ndarray, n_frames: int) -> np.ndarray:
    """Per-frame unit vectors interpolated linearly between anchor frames, renormalised.

    Parameters
    ----------
    anchors : np.ndarray [shape=(k,), int]
        Increasing frame indices, first 0 and last ``n_frames - 1``.
    values : np.ndarray [shape=(k, d), float32]
        Unit vectors at the anchors.

    Returns
    -------
    np.ndarray [shape=(n_frames, d), float32]
        Equal to ``values`` at the anchors.
    """
    frames = np.arange(n_frames)
    right = np.clip(np.searchsorted(anchors, frames, side="right"), 1, len(anchors) - 1)
    left = right - 1
    span = np.maximum(anchors[right] - anchors[left], 1)
    w = ((frames - anchors[left]) / span).clip(0.0, 1.0)[:, None].astype(np.float32)
    mixed = (1.0 - w) * values[left] + w * values[right]
    norms = np.linalg.norm(mixed, axis=1, keepdims=True)
    return (mixed / np.maximum(norms, 1e-12)).astype(np.float32)
