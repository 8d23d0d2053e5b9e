"""Temporal logic: from per-frame predicted image embeddings to frame plans.

A mapper predicts one image embedding per frame, independently. Painted as is,
that flickers; smoothed uniformly, it smears the hits of the music. The
planner reacts to the music instead:

* **Cuts.** A frame is a hard cut (the new embedding as is, ``strength`` 1.0,
  the renderer ignores the previous frame) when

  - it is the first frame,
  - the scene polarity changes (see :mod:`avstudio.render.polarity`),
  - the new embedding points elsewhere: its cosine with the current smoothed
    embedding is below ``cosine_cut``, or
  - the normalised onset strength reaches ``onset_cut`` and at least
    ``min_cut_gap_frames`` frames have passed since the last cut (only onset
    cuts wait for the gap; polarity and cosine cuts are always taken).

* **Smoothing.** Otherwise the smoothed embedding moves toward the new one by
  ``alpha`` per frame (``s += alpha * (e - s)``), or by the smaller
  ``alpha_sustain`` while the onset is below ``sustain_below`` (a held note:
  the picture drifts slowly instead of jittering).

* **Strength.** Non-cut frames get an img2img strength that follows the onset:
  ``strength_min + (strength_max - strength_min) * onset``.

Onsets are normalised over the whole clip by :func:`onset_normalise`, so
planning is always done for the whole sequence at once (it costs O(n d), a few
milliseconds for thousands of frames). Painting is what gets chunked and
resumed: ``plan_frames(...)[k:]`` are the plans of frames ``k..``, identical
whether or not frames ``0..k-1`` were painted in the same run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from avstudio.errors import ManifestError
from avstudio.render.base import FramePlan
from avstudio.render.polarity import track_polarity


def _param(default: Any, lo: float, hi: float, doc: str) -> Any:
    return field(default=default, metadata={"range": (lo, hi), "doc": doc})


@dataclass(frozen=True)
class TemporalConfig:
    """Every threshold of the temporal logic (the manifest's ``[temporal]`` table).

    Attributes
    ----------
    onset_cut : float
        Normalised onset (0..1, see :func:`onset_normalise`) at or above which a
        frame is a hard cut.
    sustain_below : float
        Normalised onset below which a note counts as sustained (heavier smoothing).
    alpha : float
        Exponential smoothing factor in normal conditions (1 = no smoothing).
    alpha_sustain : float
        Smoothing factor on sustained notes.
    cosine_cut : float
        A new embedding whose cosine with the current smoothed one is below this
        forces a cut.
    min_cut_gap_frames : int
        Least number of frames between two onset cuts.
    strength_min, strength_max : float
        img2img strength range of non-cut frames, driven by the onset.
    light_above, dark_below : float
        Polarity hysteresis thresholds on the estimated frame brightness (0..255).
    """

    onset_cut: float = _param(0.6, 0.0, 1.0, "normalised onset at or above which a frame is a hard cut")
    sustain_below: float = _param(0.2, 0.0, 1.0, "normalised onset below which a note counts as sustained")
    alpha: float = _param(0.5, 0.0, 1.0, "smoothing factor per frame (1 = follow the mapper exactly)")
    alpha_sustain: float = _param(0.15, 0.0, 1.0, "smoothing factor on sustained notes")
    cosine_cut: float = _param(0.5, -1.0, 1.0, "cosine to the smoothed embedding below which a cut is forced")
    min_cut_gap_frames: int = _param(3, 0, 1_000_000, "least frames between two onset cuts")
    strength_min: float = _param(0.5, 0.0, 1.0, "img2img strength of non-cut frames at zero onset")
    strength_max: float = _param(1.0, 0.0, 1.0, "img2img strength of non-cut frames at full onset")
    light_above: float = _param(175.0, 0.0, 255.0, "plans from estimated brightness only (a trained painter's polarity head decides instead): brightness above which the scene turns light")
    dark_below: float = _param(80.0, 0.0, 255.0, "plans from estimated brightness only: brightness below which the scene turns dark")

    def to_dict(self) -> dict[str, Any]:
        """Plain ``{name: value}`` (for the manifest and fingerprints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TemporalConfig:
        """Build and validate a config from the manifest's ``[temporal]`` table.

        Missing keys take their defaults.

        Raises
        ------
        ManifestError
            Unknown key, wrong type or out-of-range value, named by its dotted
            path (``temporal.alpha``).
        """
        data = dict(data or {})
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ManifestError(
                f"unknown setting temporal.{unknown[0]}",
                hint=f"known settings: {', '.join(FIELDS)}",
            )
        values = {}
        for name, (kind, _default, (lo, hi), doc) in FIELDS.items():
            if name not in data:
                continue
            value = data[name]
            ok_type = isinstance(value, int) if kind is int else isinstance(value, (int, float))
            if isinstance(value, bool) or not ok_type:
                raise ManifestError(
                    f"temporal.{name} must be {'an integer' if kind is int else 'a number'}, got {value!r}",
                    hint=f"{doc}; between {lo} and {hi}",
                )
            if not (lo <= value <= hi) or value != value:
                raise ManifestError(
                    f"temporal.{name} must be between {lo} and {hi}, got {value}", hint=doc
                )
            values[name] = kind(value)
        config = cls(**values)
        config._check_order()
        return config

    def _check_order(self) -> None:
        pairs = (
            ("dark_below", "light_above", "the dark threshold must stay below the light one"),
            ("sustain_below", "onset_cut", "a sustained note must have less onset than a cut"),
            ("strength_min", "strength_max", "the strength range must not be reversed"),
        )
        for low, high, why in pairs:
            if getattr(self, low) > getattr(self, high):
                raise ManifestError(
                    f"temporal.{low} ({getattr(self, low)}) is above temporal.{high} ({getattr(self, high)})",
                    hint=why,
                )


FIELDS: dict[str, tuple[type, Any, tuple[float, float], str]] = {
    f.name: (int if f.type in (int, "int") else float, f.default, f.metadata["range"], f.metadata["doc"])
    for f in fields(TemporalConfig)
}
"""``name -> (type, default, (min, max), one-line doc)`` of every temporal setting."""


def onset_normalise(onset: np.ndarray, *, percentile: float = 95.0) -> np.ndarray:
    """Robustly normalise an onset-strength curve to 0..1.

    ``(onset - median) / scale`` clipped to 0..1, where ``scale`` is the spread
    from the median to the ``percentile``-th percentile, but at least a quarter
    of the spread to the maximum (so sparse clicks, whose 95th percentile is the
    background, still reach 1). A flat curve (a held tone) gives all zeros.

    Parameters
    ----------
    onset : np.ndarray [shape=(n,), float]
        Onset strength per frame (any scale; NaN counts as 0).
    percentile : float
        The robust maximum.

    Returns
    -------
    np.ndarray [shape=(n,), float64]
    """
    o = np.nan_to_num(np.asarray(onset, dtype=np.float64).reshape(-1))
    if len(o) == 0:
        return o
    median = float(np.median(o))
    scale = max(float(np.percentile(o, percentile)) - median, 0.25 * (float(o.max()) - median))
    if scale <= 1e-12:
        return np.zeros_like(o)
    return np.clip((o - median) / scale, 0.0, 1.0)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na < 1e-8 or nb < 1e-8:
        return 1.0
    return float(np.dot(a, b)) / (na * nb)


def plan_frames(
    embeddings: np.ndarray,
    *,
    onset: np.ndarray,
    brightness: np.ndarray | None = None,
    polarity: np.ndarray | None = None,
    config: TemporalConfig | None = None,
    normalised: bool = False,
) -> list[FramePlan]:
    """Plan every frame of a clip (see the module docstring).

    Parameters
    ----------
    embeddings : np.ndarray [shape=(n, d), float]
        Predicted image embedding per frame.
    onset : np.ndarray [shape=(n,), float]
        Onset strength per frame, raw (normalised here over the whole clip).
    brightness : np.ndarray [shape=(n,), float]
        Estimated brightness (0..255) of each frame's embedding, for the scene
        polarity (e.g. ``BuiltinImageEncoder.brightness(embeddings)``); or give
    polarity : np.ndarray [shape=(n,), int]
        The scene polarity (+1/-1) per frame directly (e.g. from a polarity head).
    config : TemporalConfig, optional
        Defaults if omitted.
    normalised : bool
        ``onset`` is already normalised (by :func:`onset_normalise` over a longer clip).

    Returns
    -------
    list of FramePlan
        One per frame; ``embedding`` is float32 ``(d,)``.
    """
    cfg = config or TemporalConfig()
    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be (n, d), got shape {emb.shape}")
    n = len(emb)
    onset_n = np.asarray(onset, np.float64).reshape(-1) if normalised else onset_normalise(onset)
    if polarity is None:
        polarity = track_polarity(brightness, light_above=cfg.light_above, dark_below=cfg.dark_below)
    if len(onset_n) != n or len(np.asarray(polarity).reshape(-1)) != n:
        raise ValueError(
            f"need one onset and polarity (or brightness) value per frame: {n} embeddings, "
            f"{len(onset_n)} onsets, {len(np.asarray(polarity).reshape(-1))} polarity values"
        )
    plans: list[FramePlan] = []
    smooth: np.ndarray | None = None
    last_cut = -(10**9)
    for i in range(n):
        e, o = emb[i], float(onset_n[i])
        cut = (
            smooth is None
            or polarity[i] != polarity[i - 1]
            or _cosine(e, smooth) < cfg.cosine_cut
            or (o >= cfg.onset_cut and i - last_cut >= cfg.min_cut_gap_frames)
        )
        if cut:
            smooth = e.copy()
            strength = 1.0
            last_cut = i
        else:
            a = cfg.alpha_sustain if o < cfg.sustain_below else cfg.alpha
            smooth = smooth + a * (e - smooth)
            strength = cfg.strength_min + (cfg.strength_max - cfg.strength_min) * o
        plans.append(
            FramePlan(
                embedding=smooth.astype(np.float32),
                cut=bool(cut),
                strength=float(strength),
                polarity=int(polarity[i]),
            )
        )
    return plans
