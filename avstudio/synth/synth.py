"""The streaming synthesiser: features in, float32 audio chunks out."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from fractions import Fraction

import numpy as np

from avstudio.cancel import NEVER, CancelToken
from avstudio.errors import StageError
from avstudio.synth import control as ctl
from avstudio.synth.config import SonifyConfig
from avstudio.synth.mapping import frame_params
from avstudio.synth.oscillators import advance_phase, harmonics, raised_cosine, sine_pair
from avstudio.synth.pitch import midi_to_hz
from avstudio.synth.timing import fps_fraction, frame_to_sample, n_samples

BLOCK = 8192
"""Samples rendered per internal block. Blocks sit on a fixed grid from sample 0,
so the output is bit-identical however it is chunked."""


class Synth:
    """Sonify per-frame video features, in chunks of bounded memory.

    The tone is a sum of ``partials`` harmonics on one continuous phase (float64,
    carried across chunks); its pitch, timbre, level, pan and tremolo and the
    drone's level follow the mapped features and glide between frames (see
    :mod:`avstudio.synth.control`). Output is not normalised: track the peak
    over every chunk, then scale by :func:`peak_gain`.

    Parameters
    ----------
    features : Mapping[str, np.ndarray]
        Per-frame features: ``brightness``, ``contrast``, ``mass``, ``motion``
        ``[shape=(n,)]``, ``avg_color`` ``[shape=(n, 3)]``, and optionally
        ``rms``, ``onset``, ``centroid`` ``[shape=(n,)]``. Only the ones
        ``config.map`` uses are read (and must be finite).
    fps : float or Fraction
        Video frame rate; ``30000 / 1001`` is recognised exactly.
    n_frames : int
        ``n``.
    config : SonifyConfig, optional
        Defaults to ``SonifyConfig()``.

    Attributes
    ----------
    config : SonifyConfig
    fps : Fraction
        The exact frame rate.
    n_frames : int
    frame_params : dict[str, np.ndarray [shape=(n,), float64]]
        Each synthesis parameter per frame in 0..1, before the glide.
    frame_frequency : np.ndarray [shape=(n,), float64]
        The tone's fundamental per frame in Hz, after quantisation and glide.

    Raises
    ------
    StageError
        A mapped feature is missing, mis-shaped or not finite (the message names
        it and the first bad frame), or the frame rate is not positive.

    Notes
    -----
    Two passes give a track that peaks at ``config.peak_db`` without clipping::

        synth = Synth(features, fps=fps, n_frames=n, config=config)
        peak = max((float(np.abs(c).max()) for c in synth.iter_chunks(256, cancel=cancel)), default=0.0)
        gain = np.float32(peak_gain(peak, peak_db=config.peak_db))
        for chunk in synth.iter_chunks(256, cancel=cancel):
            sink.write(chunk * gain)
    """

    def __init__(self, features: Mapping[str, np.ndarray], *, fps: float | Fraction, n_frames: int,
                 config: SonifyConfig | None = None) -> None:
        self.config = config or SonifyConfig()
        self.fps = fps_fraction(fps)
        self.n_frames = int(n_frames)
        if self.n_frames < 0:
            raise StageError(f"n_frames must be >= 0, got {n_frames}", hint="re-run the features stage")
        sample_rate = self.config.sample_rate
        self._n_samples = n_samples(self.n_frames, fps=self.fps, sample_rate=sample_rate)
        if 2 * (self._n_samples + BLOCK) * self.fps.numerator >= 2 ** 62:
            raise StageError(f"the video is too long to sonify at {float(self.fps)} fps",
                             hint="sonify a shorter excerpt")
        self.frame_params = frame_params(features, n_frames=self.n_frames, config=self.config)
        if self.n_frames:
            self._controls, self.frame_frequency, self.frame_notes = ctl.frame_controls(
                self.frame_params, config=self.config, fps=self.fps)
        else:
            self._controls, self.frame_frequency, self.frame_notes = None, np.zeros(0), np.zeros(0)
        self.events = self._find_events(features)
        self._drone_step = float(midi_to_hz(self.config.root_note)) / sample_rate
        nodes = self._controls.nodes if self._controls is not None else np.zeros((ctl.ROW_PARTIALS, 0))
        self._has_tremolo = bool(nodes[ctl.ROW_TREMOLO_DEPTH].any())
        self._has_drone = bool(nodes[ctl.ROW_DRONE].any())
        self._fade = min(int(round(self.config.fade * sample_rate)), self._n_samples // 2)

    def _find_events(self, features: Mapping[str, np.ndarray]) -> list:
        """Scene cuts and motion peaks (:mod:`avstudio.synth.events`), when the features have colour and motion."""
        from avstudio.synth.events import detect
        from avstudio.synth.mapping import MIN_SPANS

        if not self.n_frames or "avg_color" not in features or "motion" not in features:
            return []
        c = self.config
        return detect(np.asarray(features["avg_color"], float), np.asarray(features["motion"], float),
                      self.frame_notes, fps=self.fps,
                      sample_rate=c.sample_rate, root_note=c.root_note, cut_threshold=c.cut_threshold,
                      level=c.events_level, min_gap_seconds=c.min_event_seconds,
                      motion_span=MIN_SPANS["motion"] * c.min_span_scale)

    @property
    def n_samples(self) -> int:
        """Length of the track: ``round(n_frames * sample_rate / fps)``, exactly."""
        return self._n_samples

    @property
    def channels(self) -> int:
        return self.config.channels

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def chunk_bounds(self, frames_per_chunk: int = 256) -> list[tuple[int, int]]:
        """Sample ranges ``[start, stop)`` of the chunks :meth:`iter_chunks` yields."""
        if frames_per_chunk < 1:
            raise ValueError(f"frames_per_chunk must be >= 1, got {frames_per_chunk}")
        edges = [frame_to_sample(k, fps=self.fps, sample_rate=self.sample_rate)
                 for k in range(0, self.n_frames, frames_per_chunk)] + [self._n_samples]
        return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]

    def iter_chunks(self, frames_per_chunk: int = 256, *,
                    cancel: CancelToken = NEVER) -> Iterator[np.ndarray]:
        """The track in chunks covering ``frames_per_chunk`` frames each.

        Parameters
        ----------
        frames_per_chunk : int
            Video frames per chunk (the last chunk may be shorter).
        cancel : CancelToken
            Checked before every chunk.

        Yields
        ------
        np.ndarray [shape=(m, channels), float32]
            Consecutive chunks; together exactly :attr:`n_samples` rows,
            identical to :meth:`render`. Not normalised.
        """
        blocks = self._blocks()
        pending: list[np.ndarray] = []
        have = 0
        for start, stop in self.chunk_bounds(frames_per_chunk):
            cancel.check()
            while have < stop - start:
                block = next(blocks)
                pending.append(block)
                have += len(block)
            joined = pending[0] if len(pending) == 1 else np.concatenate(pending)
            chunk, rest = joined[: stop - start], joined[stop - start:]
            pending, have = ([rest] if len(rest) else []), len(rest)
            yield chunk

    def render(self, *, cancel: CancelToken = NEVER) -> np.ndarray:
        """The whole track at once (for short inputs).

        Returns
        -------
        np.ndarray [shape=(n_samples, channels), float32]
            Not normalised.
        """
        chunks = list(self.iter_chunks(max(self.n_frames, 1), cancel=cancel))
        if not chunks:
            return np.zeros((0, self.channels), dtype=np.float32)
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    def _blocks(self) -> Iterator[np.ndarray]:
        tone_phase = tremolo_phase = 0.0
        for start in range(0, self._n_samples, BLOCK):
            stop = min(start + BLOCK, self._n_samples)
            block, tone_phase, tremolo_phase = self._render_block(start, stop, tone_phase, tremolo_phase)
            yield block

    def _render_block(self, start: int, stop: int, tone_phase: float,
                      tremolo_phase: float) -> tuple[np.ndarray, float, float]:
        sample_rate = self.sample_rate
        controls = self._controls
        span = controls.span(start, stop)
        curves = controls.curves(span, slice(0, ctl.ROW_PARTIALS))
        phase, tone_phase = advance_phase(
            curves[ctl.ROW_FREQUENCY].astype(np.float64) / sample_rate, tone_phase)
        sin1, cos1 = sine_pair(phase)
        tone = controls.mix(span, harmonics(sin1, cos1, self.config.partials))

        if self._has_tremolo:
            phase, tremolo_phase = advance_phase(
                curves[ctl.ROW_TREMOLO_RATE].astype(np.float64) / sample_rate, tremolo_phase)
            _, cos_tremolo = sine_pair(phase)
            # 1 - depth * (1 - cos) / 2: starts at full level, dips smoothly by `depth`.
            dip = np.float32(1.0) - cos_tremolo
            dip *= np.float32(0.5)
            dip *= curves[ctl.ROW_TREMOLO_DEPTH]
            tone -= tone * dip

        out = np.empty((stop - start, self.channels), dtype=np.float32)
        rows = (ctl.ROW_LEFT, ctl.ROW_RIGHT)[: self.channels]
        for channel, row in enumerate(rows):
            np.multiply(tone, curves[row], out=out[:, channel])
        if self._has_drone:
            # A fixed frequency: the phase comes straight from the sample index.
            drone_phase = np.arange(start, stop, dtype=np.float64) * self._drone_step
            drone_phase -= np.floor(drone_phase)
            drone, _ = sine_pair(drone_phase)
            drone *= curves[ctl.ROW_DRONE]
            out += drone[:, None]
        if self.events:
            from avstudio.synth.events import render_events

            hits = render_events(self.events, start, stop, sample_rate=sample_rate)
            out += hits[:, None] * np.float32(np.sqrt(0.5) if self.channels == 2 else 1.0)
        self._apply_fades(out, start, stop)
        return out, tone_phase, tremolo_phase

    def _apply_fades(self, out: np.ndarray, start: int, stop: int) -> None:
        fade = self._fade
        if fade <= 0:
            return
        if start < fade:
            end = min(stop, fade)
            out[: end - start] *= raised_cosine(np.arange(start, end) / fade)[:, None]
        tail = self._n_samples - 1 - fade
        if stop > tail:
            first = max(start, tail)
            remaining = self._n_samples - 1 - np.arange(first, stop)
            out[first - start:] *= raised_cosine(remaining / fade)[:, None]


def loudness_gain(samples: np.ndarray, sample_rate: int, *, target_lufs: float) -> tuple[float, float]:
    """Gain that brings a track to an integrated loudness (ITU-R BS.1770-4, measured with pyloudnorm).

    Parameters
    ----------
    samples : np.ndarray [shape=(n,) or (n, channels), float32]
        The un-normalised track.
    sample_rate : int
    target_lufs : float

    Returns
    -------
    (gain, loudness) : tuple of float
        ``gain`` is 1 and ``loudness`` -inf for a track that is silent or
        shorter than one 0.4 s gating block (there is nothing to measure).
    """
    import pyloudnorm

    data = np.asarray(samples)  # float32 as it is: a float64 copy would double the memory for the same value
    if len(data) < int(0.4 * sample_rate) + 1:
        return 1.0, -math.inf
    with np.errstate(divide="ignore"):
        loudness = float(pyloudnorm.Meter(sample_rate).integrated_loudness(data))
    if not math.isfinite(loudness):
        return 1.0, -math.inf
    return 10.0 ** ((target_lufs - loudness) / 20.0), loudness


def peak_gain(peak: float, *, peak_db: float = -1.0) -> float:
    """Gain that brings a track whose largest ``|sample|`` is ``peak`` to ``peak_db`` dBFS.

    The gain is lowered by a few float32 ulps so that ``chunk * gain`` in
    float32 never rounds above the target: the scaled track peaks within 1e-6
    of ``10 ** (peak_db / 20)`` and never exceeds 1 (``peak_db <= 0``).

    Parameters
    ----------
    peak : float
        ``max |sample|`` over the whole un-normalised track.
    peak_db : float
        Target peak in dBFS.

    Returns
    -------
    float
        1.0 for a silent track.
    """
    peak = float(peak)
    if not math.isfinite(peak) or peak <= 0.0:
        return 1.0
    return 10.0 ** (peak_db / 20.0) / peak * (1.0 - 4e-7)
