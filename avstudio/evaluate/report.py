"""An evaluation you cannot fool with one number (numpy + cv2, chunked).

Painted frames are scored against the true frames of a held-out block on
several axes at once: overlap (``iou``), error (``mae``), light/dark scene
agreement balanced over both classes (``polarity_bacc``), brightness
tracking (``brightness_r``), how black-and-white the picture is
(``crispness``, judged against the truth's own value), realism in a
painter-independent image space (``realism_kid``), motion tracking
(``change_r``, ``change_ratio``) and back-and-forth brightness jumps
(``flicker``, judged against the truth's own value). A mean frame wins on
``mae``; an all-black painter wins on nothing that matters; only a painter that
follows the truth wins across the table.

Frames are ``(n, h, w, 3)`` uint8 RGB; grey is BT.601 luma on 0..255. Pixel
work runs ``_CHUNK`` frames at a time, so a few thousand 320x240 frames never
need a float copy of the whole stack.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from avstudio.evaluate.metrics import grey, mean_brightness, pearson
from avstudio.painter.polarity import balanced_accuracy, light_or_dark

_CHUNK = 32  # frames per vectorised pixel step
_READ_CHUNK = 256  # frames read per slice from a sliceable (h5py dataset)
_KERNEL_BLOCK = 1024  # rows per block of a kernel matrix
_EXACT_PCA_DIMS = 2048  # above this many thumbnail pixels, use a randomized eigensolver
_CRISP_LO, _CRISP_HI = 32, 223  # near-black / near-white grey levels

METRICS: dict[str, tuple[str, str]] = {
    "iou": ("light IoU", "higher"),
    "mae": ("MAE (0-255)", "lower"),
    "polarity_bacc": ("light/dark bal. acc.", "higher"),
    "brightness_r": ("brightness r", "higher"),
    "crispness": ("crispness", "truth"),
    "realism_kid": ("realism KID", "lower"),
    "change_r": ("change r", "higher"),
    "change_ratio": ("change ratio", "one"),
    "flicker": ("flicker", "truth"),
}
"""Report metrics in table order: name -> ``(label, better)``.

``better`` is ``"higher"``, ``"lower"``, ``"truth"`` (closer to the truth's own
value, reported under ``"truth_" + name``) or ``"one"`` (closer to 1.0, on a log
scale)."""

_REFERENCE = {"crispness": "truth_crispness", "flicker": "truth_flicker"}
"""For ``"truth"`` metrics: the score key holding the truth's own value."""


# --------------------------------------------------------------------------- helpers


def _spans(n: int, step: int = _CHUNK) -> Iterable[slice]:
    return (slice(lo, min(lo + step, n)) for lo in range(0, n, step))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """:func:`avstudio.evaluate.metrics.pearson`, but nan for fewer than 2 values (undefined on a subset)."""
    return math.nan if len(x) < 2 else pearson(x, y)


def _usable(v: float | None) -> bool:
    return v is not None and not math.isnan(v)


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else math.nan


def _crisp_fraction(g: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Per-frame fraction of grey pixels <= lo or >= hi, for a grey stack ``(k, h, w)``."""
    hits = np.count_nonzero((g <= lo) | (g >= hi), axis=(1, 2))
    return hits / float(g.shape[1] * g.shape[2])


def _change_with(prev: np.ndarray | None, g: np.ndarray) -> np.ndarray:
    """Mean |grey difference| / 255 between consecutive frames of ``prev`` + ``g``."""
    steps = [np.abs(g[1:] - g[:-1]).mean(axis=(1, 2), dtype=np.float64)] if len(g) > 1 else []
    if prev is not None and len(g):
        steps.insert(0, np.abs(g[:1] - prev).mean(axis=(1, 2), dtype=np.float64))
    return np.concatenate(steps) / 255.0 if steps else np.empty(0, dtype=np.float64)


# --------------------------------------------------------------------------- per-sequence metrics


def crispness(frames: np.ndarray, *, lo: float = _CRISP_LO, hi: float = _CRISP_HI) -> float:
    """Fraction of grey pixels that are near-black (<= ``lo``) or near-white (>= ``hi``).

    Parameters
    ----------
    frames : np.ndarray [shape=(n, h, w, 3), uint8]
        Any sliceable of frames.
    lo, hi : float
        Grey levels 0..255.

    Returns
    -------
    float
        0..1 over all pixels of all frames; nan for no frames.
    """
    n = len(frames)
    if n == 0:
        return math.nan
    total = 0.0
    for s in _spans(n):
        total += float(_crisp_fraction(grey(frames[s]), lo, hi).sum())
    return total / n


def frame_polarity(frames_or_brightness: np.ndarray, *, threshold: float = 128.0) -> np.ndarray:
    """Light (+1) or dark (-1) scene per frame, by mean brightness.

    Parameters
    ----------
    frames_or_brightness : np.ndarray [shape=(n, h, w, 3), uint8] or [shape=(n,), float]
        Frames, or per-frame mean brightness (0..255) already computed.
    threshold : float
        Mean grey level at and above which a frame is light.

    Returns
    -------
    np.ndarray [shape=(n,), int8]
    """
    x = frames_or_brightness
    brightness = x if getattr(x, "ndim", np.ndim(x)) == 1 else mean_brightness(x)
    return light_or_dark(brightness, threshold=threshold)


def frame_change(frames: np.ndarray) -> np.ndarray:
    """Mean absolute grey difference between consecutive frames, on 0..1.

    Parameters
    ----------
    frames : np.ndarray [shape=(n, h, w, 3), uint8]
        Any sliceable of frames.

    Returns
    -------
    np.ndarray [shape=(n-1,), float64]
        Empty for fewer than 2 frames.
    """
    parts, prev = [], None
    for s in _spans(len(frames)):
        g = grey(frames[s])
        parts.append(_change_with(prev, g))
        prev = g[-1]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)


def flicker(brightness: np.ndarray) -> float:
    """Back-and-forth brightness jumps (A -> B -> A), on 0..1.

    With ``d = diff(brightness) / 255``, the mean over ``t`` of
    ``min(|d[t]|, |d[t+1]|)`` where the two steps have opposite signs (0
    otherwise). A single cut (A -> B -> B) scores 0; alternating black and
    white frames score 1.

    Parameters
    ----------
    brightness : np.ndarray [shape=(n,), float]
        Per-frame mean brightness, 0..255.

    Returns
    -------
    float
        0.0 for fewer than 3 frames.
    """
    b = np.asarray(brightness, dtype=np.float64)
    if len(b) < 3:
        return 0.0
    d = np.diff(b) / 255.0
    a, c = d[:-1], d[1:]
    back = np.where(a * c < 0, np.minimum(np.abs(a), np.abs(c)), 0.0)
    return float(back.mean())


# --------------------------------------------------------------------------- realism


class ImageSpace:
    """A painter-independent image-embedding space for realism (PCA of grey thumbnails).

    Fitted on training frames only, so no candidate painter shapes the space it
    is judged in. Projections are divided by one global scale so the fit set
    has mean per-component variance 1.

    Parameters
    ----------
    mean : np.ndarray [shape=(d,), float64]
        Mean thumbnail of the fit frames, ``d = width * height``.
    components : np.ndarray [shape=(k, d), float64]
        Orthonormal principal axes, largest variance first.
    explained_variance : np.ndarray [shape=(k,), float64]
        Variance of the fit frames along each axis.
    size : tuple of int
        Thumbnail ``(width, height)``.
    """

    def __init__(
        self,
        mean: np.ndarray,
        *,
        components: np.ndarray,
        explained_variance: np.ndarray,
        size: tuple[int, int],
    ) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.components = np.asarray(components, dtype=np.float64)
        self.explained_variance = np.asarray(explained_variance, dtype=np.float64)
        self.size = (int(size[0]), int(size[1]))
        scale = math.sqrt(float(np.mean(self.explained_variance))) if len(self.components) else 0.0
        self.scale = scale if scale > 1e-12 else 1.0

    @property
    def n_components(self) -> int:
        return len(self.components)

    def thumbnails(self, grey_frames: np.ndarray) -> np.ndarray:
        """Flattened INTER_AREA thumbnails of a grey stack.

        Parameters
        ----------
        grey_frames : np.ndarray [shape=(k, h, w), float32]

        Returns
        -------
        np.ndarray [shape=(k, height * width), float32]
        """
        return _thumbnails(grey_frames, self.size)

    def project(self, thumbs: np.ndarray) -> np.ndarray:
        """Scaled projections of flattened thumbnails.

        Parameters
        ----------
        thumbs : np.ndarray [shape=(k, d), float]

        Returns
        -------
        np.ndarray [shape=(k, n_components), float64]
        """
        centred = np.asarray(thumbs, dtype=np.float64) - self.mean
        return centred @ self.components.T / self.scale

    @classmethod
    def fit(
        cls,
        frames: Any,
        *,
        components: int = 16,
        size: tuple[int, int] = (32, 24),
        seed: int = 0,
    ) -> ImageSpace:
        """Fit the space on (training) frames.

        Parameters
        ----------
        frames : np.ndarray [shape=(n, h, w, 3), uint8]
            Any sliceable (an h5py dataset is read 256 frames at a time); ``n >= 2``.
        components : int
            Wanted principal components, capped at ``min(n - 1, width * height)``.
        size : tuple of int
            Thumbnail ``(width, height)``.
        seed : int
            Seed of the randomized eigensolver, used only when ``width * height``
            exceeds 2048 (below that the solution is exact and deterministic).

        Returns
        -------
        ImageSpace
        """
        n = len(frames)
        if n < 2:
            raise ValueError(f"need at least 2 frames to fit an image space, got {n}")
        if components < 1:
            raise ValueError(f"components must be >= 1, got {components}")
        dims = int(size[0]) * int(size[1])
        k = min(components, n - 1, dims)
        # Streamed covariance: sums around a shift (the first chunk's mean) so that
        # E[x x^T] - E[x] E[x]^T does not cancel catastrophically.
        shift: np.ndarray | None = None
        total = np.zeros(dims, dtype=np.float64)
        gram = np.zeros((dims, dims), dtype=np.float64)
        for thumbs in _iter_thumbnails(frames, size):
            x = thumbs.astype(np.float64)
            if shift is None:
                shift = x.mean(axis=0)
            x -= shift
            total += x.sum(axis=0)
            gram += x.T @ x
        assert shift is not None
        centre = total / n
        cov = (gram - n * np.outer(centre, centre)) / (n - 1)
        values, vectors = _top_eigh(cov, k, seed=seed)
        # Deterministic signs: the largest-magnitude entry of each axis is positive.
        signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(k)])
        vectors = vectors * np.where(signs == 0, 1.0, signs)
        return cls(
            shift + centre,
            components=vectors.T,
            explained_variance=np.maximum(values, 0.0),
            size=size,
        )

    def transform(self, frames: Any, *, mask: np.ndarray | None = None) -> np.ndarray:
        """Embed frames in the space.

        Parameters
        ----------
        frames : np.ndarray [shape=(n, h, w, 3), uint8]
            Any sliceable, read 256 frames at a time.
        mask : np.ndarray [shape=(n,), bool], optional
            Embed only these frames (saves copying ``frames[mask]``).

        Returns
        -------
        np.ndarray [shape=(m, n_components), float64]
            ``m`` is ``n``, or the number of True entries of ``mask``.
        """
        parts = [self.project(t) for t in _iter_thumbnails(frames, self.size, mask=mask)]
        if not parts:
            return np.empty((0, self.n_components), dtype=np.float64)
        return np.concatenate(parts)


def _thumbnails(g: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    # One resize per frame: faster than one many-channel resize, which needs the
    # stack transposed to (h, w, k) first.
    out = np.empty((len(g), size[1], size[0]), dtype=np.float32)
    for i, frame in enumerate(g):
        out[i] = cv2.resize(
            np.asarray(frame, dtype=np.float32), size, interpolation=cv2.INTER_AREA
        )
    return out.reshape(len(g), -1)


def _iter_thumbnails(
    frames: Any, size: tuple[int, int], *, mask: np.ndarray | None = None
) -> Iterable[np.ndarray]:
    """Thumbnails ``(k, width * height)`` of (the masked) frames, a chunk at a time."""
    n = len(frames)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (n,):
            raise ValueError(f"mask shape {mask.shape} does not match {n} frames")
    for outer in _spans(n, _READ_CHUNK):
        if mask is not None and not mask[outer].any():
            continue
        block = np.asarray(frames[outer])
        if mask is not None:
            block = block[mask[outer]]
        for s in _spans(len(block)):
            yield _thumbnails(grey(block[s]), size)


def _top_eigh(cov: np.ndarray, k: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest eigenpairs of a symmetric matrix, largest first."""
    dims = len(cov)
    if dims <= _EXACT_PCA_DIMS:
        values, vectors = np.linalg.eigh(cov)
    else:  # randomized subspace iteration (Halko et al.)
        rng = np.random.default_rng(seed)
        q, _ = np.linalg.qr(cov @ rng.standard_normal((dims, min(dims, k + 10))))
        for _ in range(4):
            q, _ = np.linalg.qr(cov @ q)
        small_values, small_vectors = np.linalg.eigh(q.T @ cov @ q)
        values, vectors = small_values, q @ small_vectors
    order = np.argsort(values)[::-1][:k]
    return values[order], vectors[:, order]


def kid(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel (Kernel Inception Distance).

    ``k(a, b) = (a . b / d + 1) ** 3``. Lower is better; identical distributions
    score about 0, and the unbiased estimate can be slightly negative (a set
    compared with itself scores below 0).

    Parameters
    ----------
    x : np.ndarray [shape=(n, d), float]
    y : np.ndarray [shape=(m, d), float]

    Returns
    -------
    float
        nan when either set has fewer than 2 rows.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"expected (n, d) and (m, d) arrays, got {x.shape} and {y.shape}")
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        return math.nan
    d = max(x.shape[1], 1)

    def kernel_sum(a: np.ndarray, b: np.ndarray) -> float:
        total = 0.0
        for s in _spans(len(a), _KERNEL_BLOCK):
            total += float((((a[s] @ b.T) / d + 1.0) ** 3).sum())
        return total

    def diag_sum(a: np.ndarray) -> float:
        return float((((a * a).sum(axis=1) / d + 1.0) ** 3).sum())

    kxx = (kernel_sum(x, x) - diag_sum(x)) / (n * (n - 1))
    kyy = (kernel_sum(y, y) - diag_sum(y)) / (m * (m - 1))
    kxy = kernel_sum(x, y) / (n * m)
    return float(kxx + kyy - 2.0 * kxy)


# --------------------------------------------------------------------------- scoring


def better_than(
    metric: str, a: float | None, b: float | None, *, reference: float | None = None
) -> bool:
    """Whether value ``a`` of a :data:`METRICS` entry is strictly better than ``b``.

    A missing or nan value is never better, and any usable value is better than
    one. For ``"one"`` metrics a value <= 0 is unusable.

    Parameters
    ----------
    metric : str
        A key of :data:`METRICS`.
    a, b : float or None
    reference : float, optional
        The truth's own value; required for ``"truth"`` metrics (nan makes
        nothing better).
    """
    key_a, key_b = _badness(metric, a, reference), _badness(metric, b, reference)
    if not _usable(key_a):
        return False
    if not _usable(key_b):
        return True
    return key_a < key_b


def _badness(metric: str, value: float | None, reference: float | None) -> float:
    """A number where smaller is better, or nan when ``value`` cannot be ranked."""
    if metric not in METRICS:
        raise KeyError(f"unknown report metric {metric!r}")
    if not _usable(value):
        return math.nan
    kind = METRICS[metric][1]
    if kind == "higher":
        return -value
    if kind == "lower":
        return value
    if kind == "one":
        return abs(math.log(value)) if value > 0 else math.nan
    if reference is None:
        raise ValueError(f"metric {metric!r} is judged against the truth: pass reference=")
    return abs(value - reference) if _usable(reference) else math.nan


class _Side:
    """Per-frame values of one frame sequence, fed grey chunks in order."""

    def __init__(self, space: ImageSpace) -> None:
        self.space = space
        self.prev: np.ndarray | None = None
        self.parts: dict[str, list[np.ndarray]] = {
            key: [] for key in ("brightness", "crisp", "change", "emb")
        }

    def add(self, g: np.ndarray) -> None:
        self.parts["brightness"].append(g.mean(axis=(1, 2), dtype=np.float64))
        self.parts["crisp"].append(_crisp_fraction(g, _CRISP_LO, _CRISP_HI))
        self.parts["change"].append(_change_with(self.prev, g))
        self.parts["emb"].append(self.space.project(self.space.thumbnails(g)))
        self.prev = g[-1]

    def finish(self) -> dict[str, np.ndarray]:
        out = {}
        for key, parts in self.parts.items():
            if parts:
                out[key] = np.concatenate(parts)
            elif key == "emb":
                out[key] = np.empty((0, self.space.n_components), dtype=np.float64)
            else:
                out[key] = np.empty(0, dtype=np.float64)
        return out


def _scan(
    painted: Any,
    truth: Any,
    *,
    space: ImageSpace,
    threshold: float,
    truth_side: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One chunked pass: pair values (iou, mae) and each side's per-frame values."""
    if tuple(painted.shape) != tuple(truth.shape):
        raise ValueError(f"frame arrays differ in shape: {painted.shape} vs {truth.shape}")
    if len(truth.shape) != 4 or truth.shape[-1] != 3:
        raise ValueError(f"expected frames (n, h, w, 3), got {truth.shape}")
    n = len(truth)
    pair = {"iou": np.empty(n, dtype=np.float64), "mae": np.empty(n, dtype=np.float64)}
    ps, ts = _Side(space), (None if truth_side is not None else _Side(space))
    for s in _spans(n):
        p, t = np.asarray(painted[s]), np.asarray(truth[s])
        diff = np.abs(p.astype(np.int16) - t.astype(np.int16))
        pair["mae"][s] = diff.mean(axis=(1, 2, 3), dtype=np.float64)
        gp, gt = grey(p), grey(t)
        lp, lt = gp >= threshold, gt >= threshold
        inter = np.count_nonzero(lp & lt, axis=(1, 2))
        union = np.count_nonzero(lp | lt, axis=(1, 2))
        pair["iou"][s] = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        ps.add(gp)
        if ts is not None:
            ts.add(gt)
    return pair, ps.finish(), (truth_side if ts is None else ts.finish())


def _nan_scores() -> dict[str, float]:
    keys = [*METRICS, "truth_crispness", "truth_flicker", "truth_change"]
    return dict.fromkeys(keys, math.nan)


def _summarise(
    pair: dict[str, np.ndarray],
    ps: dict[str, np.ndarray],
    ts: dict[str, np.ndarray],
    mask: np.ndarray,
) -> dict[str, float]:
    if not mask.any():
        return _nan_scores()
    pairs = mask[:-1] & mask[1:]  # consecutive frames both in the subset
    cp, ct = ps["change"][pairs], ts["change"][pairs]
    mean_cp, mean_ct = _mean(cp), _mean(ct)
    bp, bt = ps["brightness"][mask], ts["brightness"][mask]
    ratio = mean_cp / mean_ct if _usable(mean_ct) and mean_ct > 0 else math.nan
    return {
        "iou": _mean(pair["iou"][mask]),
        "mae": _mean(pair["mae"][mask]),
        "polarity_bacc": balanced_accuracy(frame_polarity(bp), frame_polarity(bt)),
        "brightness_r": _pearson(bp, bt),
        "crispness": _mean(ps["crisp"][mask]),
        "realism_kid": kid(ps["emb"][mask], ts["emb"][mask]),
        "change_r": _pearson(cp, ct),
        "change_ratio": ratio,
        "flicker": flicker(bp),
        "truth_crispness": _mean(ts["crisp"][mask]),
        "truth_flicker": flicker(bt),
        "truth_change": mean_ct,
    }


def _as_mask(mask: np.ndarray | None, n: int) -> np.ndarray:
    if mask is None:
        return np.ones(n, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (n,):
        raise ValueError(f"mask shape {mask.shape} does not match {n} frames")
    return mask


def score_block(
    painted: Any,
    truth: Any,
    *,
    space: ImageSpace,
    mask: np.ndarray | None = None,
    iou_threshold: float = 128.0,
) -> dict[str, float]:
    """Every :data:`METRICS` entry for one candidate against the truth.

    Parameters
    ----------
    painted, truth : np.ndarray [shape=(n, h, w, 3), uint8]
        Any sliceables of the same shape (h5py datasets, broadcast views).
    space : ImageSpace
        Realism space, fitted on training frames.
    mask : np.ndarray [shape=(n,), bool], optional
        Score only these frames (default all). Sequence metrics (``flicker``)
        run on the masked subsequence; ``change_*`` use only consecutive pairs
        whose both frames are in the mask.
    iou_threshold : float
        Grey level at and above which a pixel is light, for ``iou``.

    Returns
    -------
    dict of str to float
        The :data:`METRICS` names, plus the truth's own ``truth_crispness``,
        ``truth_flicker`` and ``truth_change`` (mean truth change). A metric
        undefined on the subset is nan (an empty mask gives all nan).
    """
    mask = _as_mask(mask, len(truth))
    if not mask.any():
        return _nan_scores()
    pair, ps, ts = _scan(painted, truth, space=space, threshold=iou_threshold)
    return _summarise(pair, ps, ts, mask)


def _best(rows: Mapping[str, Mapping[str, float]], metric: str) -> list[str]:
    """Names no other row strictly beats, among rows with a usable value."""
    ref_key = _REFERENCE.get(metric)
    out = []
    for name, row in rows.items():
        ref = row.get(ref_key) if ref_key else None
        if not _usable(_badness(metric, row[metric], ref)):
            continue
        if not any(
            better_than(metric, other[metric], row[metric], reference=ref)
            for other_name, other in rows.items()
            if other_name != name
        ):
            out.append(name)
    return out


def score_table(
    candidates: Mapping[str, Any],
    truth: Any,
    *,
    space: ImageSpace,
    masks: Mapping[str, np.ndarray],
    iou_threshold: float = 128.0,
) -> dict[str, dict[str, Any]]:
    """Score every candidate on every subset, and mark the best per metric.

    Each candidate (and the truth) is scanned once; subsets are cut from the
    per-frame values.

    Parameters
    ----------
    candidates : dict of str to np.ndarray [shape=(n, h, w, 3), uint8]
        Name -> frames, same shape as ``truth``; the painter first, then baselines.
    truth : np.ndarray [shape=(n, h, w, 3), uint8]
    space : ImageSpace
        Realism space, fitted on training frames.
    masks : dict of str to np.ndarray [shape=(n,), bool]
        Subset name -> frames in it (e.g. ``{"music": m, "silent": ~m}``).
    iou_threshold : float
        See :func:`score_block`.

    Returns
    -------
    dict
        ``{subset: {"n_frames": int, "rows": {name: scores}, "best": {metric: [names]}}}``
        with ``scores`` as from :func:`score_block`. A subset with fewer than 2
        frames has empty ``rows`` and ``best``. For ``"truth"`` metrics the
        reference is the truth's own value; nan values are never best; ties
        are all listed.
    """
    n = len(truth)
    cut = {name: _as_mask(m, n) for name, m in masks.items()}
    scored = [name for name, m in cut.items() if int(m.sum()) >= 2]
    rows: dict[str, dict[str, dict[str, float]]] = {name: {} for name in scored}
    if scored:
        truth_side = None
        for cand, frames in candidates.items():
            pair, ps, ts = _scan(
                frames, truth, space=space, threshold=iou_threshold, truth_side=truth_side
            )
            truth_side = ts
            for subset in scored:
                rows[subset][cand] = _summarise(pair, ps, ts, cut[subset])
    out: dict[str, dict[str, Any]] = {}
    for subset, m in cut.items():
        subset_rows = rows.get(subset, {})
        best = {metric: _best(subset_rows, metric) for metric in METRICS} if subset_rows else {}
        out[subset] = {"n_frames": int(m.sum()), "rows": subset_rows, "best": best}
    return out
