"""From per-frame features to per-frame synthesis parameters in 0..1.

Each mapped feature is normalised over the whole video by its percentiles
(``SonifyConfig.percentiles``, default 5th and 95th): the low percentile maps
to 0, the high one to 1, values outside are clipped. ``[sonify.ranges]`` can
set either limit per feature, as a percentile (``"5%"``) or a value in the
feature's units. Every feature also has a minimum span in its own units
(:data:`MIN_SPANS`, scaled by ``sonify.min_span_scale``, or the range's
``min_span``): a feature that varies less than that (codec noise
on a still picture, a picture without dark pixels) is not stretched over the
whole range but moves its parameter by its real change over the minimum span,
around the parameter's rest value (:data:`~avstudio.synth.config.NEUTRAL`), so
a constant feature rests there. Between the two regimes the results blend by
``span / min_span``. A parameter mapped to ``"none"`` takes its rest value.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from avstudio.errors import StageError
from avstudio.synth.config import AUDIO_FEATURES, NEUTRAL, NONE, PARAMS, SonifyConfig, feature_of

COLOUR_FEATURES = ("red", "green", "blue", "warmth", "saturation", "hue")
"""Features derived from ``avg_color``."""

MIN_SPANS: dict[str, float] = {
    "brightness": 40.0, "contrast": 20.0, "mass": 0.05, "motion": 2.0,
    "red": 40.0, "green": 40.0, "blue": 40.0, "warmth": 30.0, "saturation": 0.15, "hue": 0.1,
    "rms": 0.02, "centroid": 300.0, "onset": 0.0,
}
"""Least variation of each feature that may fill a parameter's whole range, in the feature's units: grey
levels (0..255) for brightness, contrast and the colour channels, red minus blue for warmth, the share of
the picture for mass (read as ``mass_fraction``), source pixels per frame for motion, 0..1 for saturation and
hue, linear amplitude for rms, Hz for centroid; onset strength has no unit (0: always stretched)."""


def frame_params(features: Mapping[str, np.ndarray], *, n_frames: int,
                 config: SonifyConfig) -> dict[str, np.ndarray]:
    """Every synthesis parameter per frame, in 0..1.

    Parameters
    ----------
    features : Mapping[str, np.ndarray]
        ``brightness``, ``contrast``, ``mass``, ``motion`` : ``[shape=(n,)]``;
        ``avg_color`` : ``[shape=(n, 3)]`` RGB 0..255; optionally ``rms``,
        ``onset``, ``centroid`` : ``[shape=(n,)]``. Only the ones the map uses
        are read.
    n_frames : int
        ``n``.
    config : SonifyConfig

    Returns
    -------
    dict[str, np.ndarray [shape=(n,), float64]]
        One entry per name in :data:`~avstudio.synth.config.PARAMS`.

    Raises
    ------
    StageError
        A mapped feature is missing, has the wrong length, or holds NaN or inf.
    """
    params: dict[str, np.ndarray] = {}
    normalised: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    for param in PARAMS:
        source = config.map[param]
        feature, inverted = feature_of(source)
        if feature == NONE:
            params[param] = np.full(n_frames, NEUTRAL[param])
            continue
        if feature not in normalised:
            name = "mass_fraction" if feature == "mass" and "mass_fraction" in features else feature
            raw = feature_values(features, name, n_frames=n_frames, param=param)
            given = config.ranges.get(feature, {})
            normalised[feature] = spans(raw, limits=(given.get("lo", f"{config.percentiles[0]:g}%"),
                                                     given.get("hi", f"{config.percentiles[1]:g}%")),
                                        min_span=given.get("min_span",
                                                           MIN_SPANS.get(feature, 0.0) * config.min_span_scale))
        stretched, centred, weight = normalised[feature]
        rest = NEUTRAL[param]
        if inverted:
            stretched, centred = 1.0 - stretched, -centred
        quiet = np.clip(rest + centred, 0.0, 1.0)
        params[param] = weight * stretched + (1.0 - weight) * quiet
    return params


def feature_values(features: Mapping[str, np.ndarray], name: str, *, n_frames: int,
                   param: str = "") -> np.ndarray:
    """One scalar feature per frame, deriving colour features from ``avg_color``.

    ``red``/``green``/``blue`` are the channel means (0..255), ``warmth`` is
    red minus blue (-255..255), ``saturation`` is HSV saturation (0..1) and
    ``hue`` is HSV hue as a fraction of a turn (0..1, red = 0).

    Parameters
    ----------
    features : Mapping[str, np.ndarray]
        As for :func:`frame_params`.
    name : str
        A name from :data:`~avstudio.synth.config.FEATURES`.
    n_frames : int
    param : str, optional
        The parameter asking, for the error message.

    Returns
    -------
    np.ndarray [shape=(n,), float64]
    """
    source = "avg_color" if name in COLOUR_FEATURES else name
    if source not in features:
        needed = f" (sonify.map.{param})" if param else ""
        hint = ("run the features stage with audio analysis, or map the parameter to another feature"
                if name in AUDIO_FEATURES else f"re-run the features stage so it records {source}")
        raise StageError(f"feature {source!r} needed by {name!r}{needed} is not in the store", hint=hint)
    values = np.asarray(features[source], dtype=np.float64)
    shape = (n_frames, 3) if source == "avg_color" else (n_frames,)
    if values.shape != shape:
        raise StageError(f"feature {source!r} has shape {values.shape}, expected {shape}",
                         hint="re-run the features stage")
    finite = np.isfinite(values) if values.ndim == 1 else np.isfinite(values).all(axis=1)
    if not finite.all():
        frame = int(np.argmin(finite))
        bad = values[frame] if values.ndim == 1 else values[frame][~np.isfinite(values[frame])][0]
        raise StageError(f"feature {source!r} is {bad} at frame {frame}",
                         hint="re-run the features stage; if it persists the video has a broken frame")
    if source != "avg_color":
        return values
    return colour_feature(values, name)


def colour_feature(rgb: np.ndarray, name: str) -> np.ndarray:
    """A scalar colour feature from mean RGB.

    Parameters
    ----------
    rgb : np.ndarray [shape=(n, 3), float64]
        Mean colour per frame, 0..255.
    name : str
        One of :data:`COLOUR_FEATURES`.

    Returns
    -------
    np.ndarray [shape=(n,), float64]
    """
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    if name in ("red", "green", "blue"):
        return rgb[:, ("red", "green", "blue").index(name)].copy()
    if name == "warmth":
        return r - b
    high = rgb.max(axis=1)
    span = high - rgb.min(axis=1)
    if name == "saturation":
        return np.divide(span, high, out=np.zeros_like(span), where=high > 0)
    safe = np.where(span > 0, span, 1.0)
    hue = np.where(high == r, ((g - b) / safe) % 6.0,
                   np.where(high == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    return np.where(span > 0, hue / 6.0, 0.0)


def spans(values: np.ndarray, *, limits: tuple, min_span: float) -> tuple[np.ndarray, np.ndarray, float]:
    """A feature's two normalisations and how much each counts.

    Parameters
    ----------
    values : np.ndarray [shape=(n,), float64]
    limits : (lo, hi)
        Each a percentile (``"5%"``) or a value in the feature's units
        (:func:`avstudio.synth.config.limit`).
    min_span : float
        The feature's minimum span.

    Returns
    -------
    stretched : np.ndarray [shape=(n,), float64]
        ``lo`` maps to 0 and ``hi`` to 1, clipped (all 0.5 when they coincide).
    centred : np.ndarray [shape=(n,), float64]
        ``(values - centre) / min_span``, centre being the percentiles' midpoint
        (0 everywhere when ``min_span`` is 0).
    weight : float
        ``min(1, span / min_span)`` of ``stretched`` (1 when ``min_span`` is 0).
    """
    from avstudio.synth.config import limit

    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values.copy(), values.copy(), 1.0
    low, high = limit(limits[0], values), limit(limits[1], values)
    span = high - low
    if span > 1e-12 * max(1.0, abs(low), abs(high)):
        stretched = np.clip((values - low) / span, 0.0, 1.0)
    else:
        stretched = np.full(values.shape, 0.5)
    if min_span <= 0:
        return stretched, np.zeros_like(values), 1.0
    centred = (values - 0.5 * (low + high)) / min_span
    return stretched, centred, float(min(1.0, (high - low) / min_span))
