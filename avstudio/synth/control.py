"""Control curves: per-frame synthesis settings and their interpolation to samples.

Per frame, the 0..1 parameters become concrete settings (fundamental in Hz,
harmonic weights, channel gains, drone level, tremolo rate and depth). They are
first smoothed across frames with a zero-phase Gaussian (the glide, see
:func:`glide_sigma_frames`), then interpolated to every sample between frame
centres along a smoothstep, so every setting is continuous with a continuous
slope and never overshoots: no steps, no clicks.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np

from avstudio.synth.config import TOP_FREQUENCY_FRACTION, SonifyConfig
from avstudio.synth.oscillators import smoothstep
from avstudio.synth.pitch import held_notes, midi_to_hz, scale_notes

GLIDE_SIGMAS = 2.563
"""10-90 % rise of a Gaussian-smoothed step, in standard deviations."""

NYQUIST_FADE = 0.05
"""Harmonics fade out over this fraction of the sample rate below the top frequency."""

ROW_FREQUENCY, ROW_TREMOLO_RATE, ROW_TREMOLO_DEPTH, ROW_DRONE, ROW_LEFT, ROW_RIGHT = range(6)
ROW_PARTIALS = 6
"""Rows of :attr:`Controls.nodes`; harmonic ``k`` is row ``ROW_PARTIALS + k - 1``."""


@dataclasses.dataclass(frozen=True)
class Span:
    """Where samples ``start .. stop - 1`` fall between frame centres.

    Attributes
    ----------
    columns : list[int]
        Node column at the start of each frame-to-frame segment the span touches.
    edges : list[int]
        Local sample offsets: segment ``s`` covers ``edges[s] .. edges[s + 1] - 1``.
    ease : np.ndarray [shape=(stop - start,), float32]
        Smoothstep of each sample's position within its segment (0 at the
        earlier frame centre, 1 at the later one).
    """

    columns: list[int]
    edges: list[int]
    ease: np.ndarray

    def segments(self):
        """``(column, first, stop)`` for each segment."""
        return zip(self.columns, self.edges[:-1], self.edges[1:])


@dataclasses.dataclass(frozen=True)
class Controls:
    """Control values at frame centres, ready for interpolation.

    Attributes
    ----------
    nodes : np.ndarray [shape=(rows, n + 2), float32]
        Column ``k + 1`` holds frame ``k``; columns 0 and ``n + 1`` repeat the
        first and last frame so samples before the first centre and after the
        last one hold steady.
    deltas : np.ndarray [shape=(rows, n + 1), float32]
        ``nodes[:, 1:] - nodes[:, :-1]``.
    fps : Fraction
    sample_rate : int
    """

    nodes: np.ndarray
    deltas: np.ndarray
    fps: Fraction
    sample_rate: int

    def __post_init__(self) -> None:
        # Per segment start column: the partial weights and their change, for mix().
        pairs = np.stack([self.nodes[ROW_PARTIALS:, :-1].T, self.deltas[ROW_PARTIALS:].T], axis=1)
        object.__setattr__(self, "_pairs", np.ascontiguousarray(pairs))

    def span(self, start: int, stop: int) -> Span:
        """Locate samples ``start .. stop - 1`` between frame centres.

        Sample ``i`` lies at frame position ``x = i * fps / sample_rate - 1/2``,
        computed in integers: ``2 * i * num - den * sr`` ticks of
        ``1 / (2 * den * sr)`` frames, with ``fps = num / den``. Samples with
        ``floor(x) = k`` share segment ``k`` (between the centres of frames
        ``k`` and ``k + 1``).
        """
        num, den, sr = self.fps.numerator, self.fps.denominator, self.sample_rate
        per_frame, per_sample, origin = 2 * den * sr, 2 * num, den * sr
        last_column = self.deltas.shape[1] - 1
        segment = (per_sample * start - origin) // per_frame
        columns, edges, offsets = [], [0], []
        while edges[-1] < stop - start:
            # First sample whose position reaches segment + 1.
            following = -(-((segment + 1) * per_frame + origin) // per_sample)
            first = start + edges[-1]
            columns.append(min(max(segment + 1, 0), last_column))
            offsets.append(per_sample * first - origin - segment * per_frame - per_sample * edges[-1])
            edges.append(min(following, stop) - start)
            segment += 1
        ticks = np.arange(stop - start, dtype=np.float64) * per_sample
        ticks += np.repeat(np.asarray(offsets, dtype=np.float64), np.diff(edges))
        ticks /= per_frame
        return Span(columns=columns, edges=edges, ease=smoothstep(ticks.astype(np.float32)))

    def curves(self, span: Span, rows: slice) -> np.ndarray:
        """Controls ``rows`` at every sample of ``span``.

        Returns
        -------
        np.ndarray [shape=(len(rows), m), float32]
        """
        out = np.empty((self.nodes[rows].shape[0], len(span.ease)), dtype=np.float32)
        for column, first, stop in span.segments():
            part = out[:, first:stop]
            np.multiply(self.deltas[rows, column, None], span.ease[first:stop], out=part)
            part += self.nodes[rows, column, None]
        return out

    def mix(self, span: Span, signals: np.ndarray) -> np.ndarray:
        """``sum_k weight_k(t) * signals[k]`` with the interpolated partial weights.

        Within a segment a weight is ``node + delta * ease``, so the sum is two
        small matrix products per segment instead of per-sample weights.

        Parameters
        ----------
        span : Span
        signals : np.ndarray [shape=(partials, m), float32]

        Returns
        -------
        np.ndarray [shape=(m,), float32]
        """
        out = np.empty(signals.shape[1], dtype=np.float32)
        for column, first, stop in span.segments():
            level, slope = self._pairs[column] @ signals[:, first:stop]
            slope *= span.ease[first:stop]
            np.add(level, slope, out=out[first:stop])
        return out


def glide_sigma_frames(smoothing: float, fps: Fraction) -> float:
    """Standard deviation, in frames, of the Gaussian whose step response rises 10-90 % in ``smoothing`` s."""
    return float(smoothing) / GLIDE_SIGMAS * float(fps)


def smooth_frames(rows: np.ndarray, sigma: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along frames, edges held.

    Parameters
    ----------
    rows : np.ndarray [shape=(r, n), float64]
    sigma : float
        Standard deviation in frames; below 0.05 the rows are returned as they are.

    Returns
    -------
    np.ndarray [shape=(r, n), float64]
    """
    if sigma < 0.05 or rows.shape[1] < 2:
        return rows
    radius = int(np.ceil(4.0 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(rows, ((0, 0), (radius, radius)), mode="edge")
    return np.stack([np.convolve(row, taps, mode="valid") for row in padded])


def frame_notes(pitch: np.ndarray, *, config: SonifyConfig, fps: float | Fraction) -> np.ndarray:
    """The scale note of each frame: ``map.pitch`` over the range, held with hysteresis and a minimum length.

    Parameters
    ----------
    pitch : np.ndarray [shape=(n,), float64]
        0..1 per frame.

    Returns
    -------
    np.ndarray [shape=(n,), float64]
        MIDI note numbers (fractional for ``scale = "continuous"``).
    """
    notes = scale_notes(config.scale, root_note=config.root_note, octaves=config.octaves)
    return held_notes(config.root_note + 12.0 * config.octaves * np.asarray(pitch, np.float64), notes,
                      hysteresis=config.note_hysteresis,
                      min_frames=max(1, int(round(config.min_note_seconds * float(fps)))))


def frame_controls(params: dict[str, np.ndarray], *, config: SonifyConfig,
                   fps: Fraction) -> tuple[Controls, np.ndarray, np.ndarray]:
    """Concrete per-frame settings from 0..1 parameters.

    Parameters
    ----------
    params : dict[str, np.ndarray [shape=(n,), float64]]
        From :func:`avstudio.synth.mapping.frame_params`.
    config : SonifyConfig
    fps : Fraction

    Returns
    -------
    controls : Controls
    frequency : np.ndarray [shape=(n,), float64]
        Fundamental per frame in Hz after quantisation and glide.
    notes : np.ndarray [shape=(n,), float64]
        The held scale note per frame (:func:`frame_notes`), before the glide.
    """
    notes = frame_notes(params["pitch"], config=config, fps=fps)
    rows = np.stack([notes, params["pan"], params["harmonics"], params["cutoff"],
                     params["drone"], params["amplitude"], params["density"]])
    midi, pan, harmonics, cutoff, drone, amplitude, density = smooth_frames(
        rows, glide_sigma_frames(config.smoothing, fps))
    frequency = midi_to_hz(midi)

    envelope = config.amplitude_floor + (1.0 - config.amplitude_floor) * amplitude
    angle = 0.5 * np.pi * pan
    stereo = config.channels == 2
    left = envelope * np.cos(angle) if stereo else envelope
    right = envelope * np.sin(angle) if stereo else envelope
    drone_gain = config.drone_level * drone * (np.sqrt(0.5) if stereo else 1.0)
    weights = harmonic_weights(frequency, harmonics, cutoff, config=config)
    per_frame = np.concatenate([
        np.stack([frequency, config.tremolo_hz * density, config.tremolo_depth * density,
                  drone_gain, left, right]),
        weights,
    ]).astype(np.float32)
    nodes = np.concatenate([per_frame[:, :1], per_frame, per_frame[:, -1:]], axis=1)
    controls = Controls(nodes=nodes, deltas=np.diff(nodes, axis=1), fps=fps,
                        sample_rate=config.sample_rate)
    return controls, frequency, notes


def harmonic_weights(frequency: np.ndarray, harmonics: np.ndarray, cutoff: np.ndarray, *,
                     config: SonifyConfig) -> np.ndarray:
    """Amplitude of each harmonic per frame.

    Harmonic ``k`` starts as ``k ** -(0.5 + 3.5 * (1 - harmonics))`` (a bright
    ``k^-0.5`` tilt at 1, nearly a sine at 0), is shaped by a 2nd-order
    Butterworth low-pass magnitude with its corner swept log-wise through
    ``cutoff_hz`` by ``cutoff``, and the weights are normalised to sum to 1 (so
    the tone never exceeds 1). Harmonics then fade to zero between
    ``0.40`` and ``0.45`` of the sample rate, judged on the highest fundamental
    of the frame and its neighbours, so nothing aliases while the pitch glides.

    Parameters
    ----------
    frequency, harmonics, cutoff : np.ndarray [shape=(n,), float64]
        Fundamental in Hz; the two 0..1 timbre parameters.
    config : SonifyConfig

    Returns
    -------
    np.ndarray [shape=(partials, n), float64]
    """
    k = np.arange(1, config.partials + 1, dtype=np.float64)[:, None]
    tilt = k ** -(0.5 + 3.5 * (1.0 - harmonics))
    low, high = config.cutoff_hz
    corner = low * (high / low) ** cutoff
    shaped = tilt / np.sqrt(1.0 + (k * frequency / corner) ** 4)
    shaped /= shaped.sum(axis=0)
    reach = np.maximum(frequency, np.maximum(np.roll(frequency, 1), np.roll(frequency, -1)))
    if len(frequency) > 1:
        reach[0] = max(frequency[0], frequency[1])
        reach[-1] = max(frequency[-1], frequency[-2])
    top = TOP_FREQUENCY_FRACTION * config.sample_rate
    fade = np.clip((top - k * reach) / (NYQUIST_FADE * config.sample_rate), 0.0, 1.0)
    return shaped * fade
