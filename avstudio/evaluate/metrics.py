"""How close painted frames are to the real ones (numpy + cv2, vectorised, chunked).

Frames are ``(n, h, w, 3)`` uint8 RGB. Grey is BT.601 luma
(``0.299 R + 0.587 G + 0.114 B``) on 0..255. Every metric returns a plain
float; :func:`better` knows which direction is better for each name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

_CHUNK = 32  # frames per vectorised step (cv2 blurs up to 512 channels at once)
_CHUNK_PIXELS = 1 << 22  # ~32 MB per float64 temporary
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_SSIM_C1 = (0.01 * 255) ** 2
_SSIM_C2 = (0.03 * 255) ** 2
_SSIM_WINDOW, _SSIM_SIGMA = 11, 1.5

LOWER_IS_BETTER = frozenset({"mae", "mse", "loss", "train_loss", "val_loss", "best_val_loss", "kid", "error"})
"""Metric names (or ``_``/``.``-suffixes of names) where a smaller value is better."""
HIGHER_IS_BETTER = frozenset(
    {"ssim", "iou", "brightness_corr", "polarity_accuracy", "embedding_cosine", "cosine", "bacc", "r"}
)
"""Metric names (or ``_``/``.``-suffixes of names) where a larger value is better."""


# --------------------------------------------------------------------------- helpers


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"frame arrays differ in shape: {a.shape} vs {b.shape}")
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"expected frames (n, h, w, 3), got {a.shape}")


def _spans(n: int, pixels: int = 1) -> Iterable[slice]:
    """Chunks of at most ``_CHUNK`` frames and about ``_CHUNK_PIXELS`` grey pixels."""
    step = max(1, min(_CHUNK, _CHUNK_PIXELS // max(pixels, 1)))
    return (slice(lo, min(lo + step, n)) for lo in range(0, n, step))


def grey(frames: np.ndarray) -> np.ndarray:
    """BT.601 luma of RGB frames.

    Parameters
    ----------
    frames : np.ndarray [shape=(n, h, w, 3), uint8]

    Returns
    -------
    np.ndarray [shape=(n, h, w), float32]
        0..255.
    """
    return np.asarray(frames, dtype=np.float32) @ _LUMA


def mean_brightness(frames: np.ndarray) -> np.ndarray:
    """Per-frame mean grey level.

    Parameters
    ----------
    frames : np.ndarray [shape=(n, h, w, 3), uint8]

    Returns
    -------
    np.ndarray [shape=(n,), float64]
        0..255.
    """
    out = np.empty(len(frames), dtype=np.float64)
    for s in _spans(len(frames), frames.shape[1] * frames.shape[2]):
        out[s] = grey(frames[s]).mean(axis=(1, 2), dtype=np.float64)
    return out


def _ssim_grey(ga: np.ndarray, gb: np.ndarray) -> np.ndarray:
    """Per-frame mean SSIM of grey stacks ``(k, h, w)``, ``k <= 512``.

    Computed in float64: ``E[x^2] - E[x]^2`` loses the small variances of flat
    regions in float32.
    """
    import cv2

    ga, gb = ga.astype(np.float64), gb.astype(np.float64)

    def blur(x: np.ndarray) -> np.ndarray:
        out = cv2.GaussianBlur(
            np.ascontiguousarray(x.transpose(1, 2, 0)),
            (_SSIM_WINDOW, _SSIM_WINDOW),
            _SSIM_SIGMA,
            borderType=cv2.BORDER_REFLECT,
        )
        return out.reshape(x.shape[1], x.shape[2], -1).transpose(2, 0, 1)

    mu_a, mu_b = blur(ga), blur(gb)
    var_a = blur(ga * ga) - mu_a * mu_a
    var_b = blur(gb * gb) - mu_b * mu_b
    cov = blur(ga * gb) - mu_a * mu_b
    num = (2 * mu_a * mu_b + _SSIM_C1) * (2 * cov + _SSIM_C2)
    den = (mu_a * mu_a + mu_b * mu_b + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
    ssim_map = num / den
    pad = _SSIM_WINDOW // 2  # drop the border where the window hangs off the frame
    if ssim_map.shape[1] > 2 * pad and ssim_map.shape[2] > 2 * pad:
        ssim_map = ssim_map[:, pad:-pad, pad:-pad]
    return ssim_map.mean(axis=(1, 2), dtype=np.float64)


def _iou_grey(ga: np.ndarray, gb: np.ndarray, threshold: float) -> np.ndarray:
    """Per-frame IoU of light pixels (grey >= threshold); 1.0 when both have none."""
    la, lb = ga >= threshold, gb >= threshold
    inter = np.count_nonzero(la & lb, axis=(1, 2))
    union = np.count_nonzero(la | lb, axis=(1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def _per_frame(
    a: np.ndarray, b: np.ndarray, want: set[str], *, threshold: float = 128
) -> dict[str, np.ndarray]:
    """One chunked pass computing the per-frame values the metrics in ``want`` need."""
    _check_pair(a, b)
    n = len(a)
    out = {key: np.empty(n, dtype=np.float64) for key in want}
    for s in _spans(n, a.shape[1] * a.shape[2]):
        if "mae" in want:
            diff = np.abs(a[s].astype(np.int16) - b[s].astype(np.int16))
            out["mae"][s] = diff.mean(axis=(1, 2, 3), dtype=np.float64)
        if want - {"mae"}:
            ga, gb = grey(a[s]), grey(b[s])
            if "ssim" in want:
                out["ssim"][s] = _ssim_grey(ga, gb)
            if "iou" in want:
                out["iou"][s] = _iou_grey(ga, gb, threshold)
            if "bright_a" in want:
                out["bright_a"][s] = ga.mean(axis=(1, 2), dtype=np.float64)
                out["bright_b"][s] = gb.mean(axis=(1, 2), dtype=np.float64)
    return out


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; 0.0 when either side is constant (up to rounding)."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    y = np.asarray(y, dtype=np.float64) - np.mean(y)
    for v in (x, y):
        if len(v) and np.ptp(v) <= 1e-6 * (1.0 + float(np.abs(v).max())):
            return 0.0  # constant up to rounding (a constant frame's brightness summed in chunks)
    den = math.sqrt(float(x @ x) * float(y @ y))
    if den <= 1e-12 * max(len(x), 1):
        return 0.0
    return float(np.clip((x @ y) / den, -1.0, 1.0))


def _polarity(brightness: np.ndarray, *, light_above: float, dark_below: float) -> np.ndarray:
    """Hysteresis light/dark polarity (+1/-1), the renderer's own rule."""
    from avstudio.render.polarity import track_polarity

    polarity = track_polarity(brightness, light_above=light_above, dark_below=dark_below)
    return np.asarray(polarity, dtype=np.int8)


# --------------------------------------------------------------------------- metrics


def mae(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute error per pixel and channel, on 0..255 (lower is better).

    Parameters
    ----------
    a, b : np.ndarray [shape=(n, h, w, 3), uint8]
    """
    return float(_per_frame(a, b, {"mae"})["mae"].mean())


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity on grey (Gaussian window 11, sigma 1.5, standard constants).

    1.0 for identical frames; the 5-pixel border where the window leaves the
    frame is excluded (as in Wang et al.'s reference implementation).

    Parameters
    ----------
    a, b : np.ndarray [shape=(n, h, w, 3), uint8]
    """
    return float(_per_frame(a, b, {"ssim"})["ssim"].mean())


def iou_binary(a: np.ndarray, b: np.ndarray, *, threshold: float = 128) -> float:
    """Mean per-frame IoU of the light pixels (grey >= ``threshold``).

    A frame where neither image has a light pixel counts as 1.0 (they agree).

    Parameters
    ----------
    a, b : np.ndarray [shape=(n, h, w, 3), uint8]
    threshold : float
        Grey level 0..255 at and above which a pixel is light.
    """
    return float(_per_frame(a, b, {"iou"}, threshold=threshold)["iou"].mean())


def brightness_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of per-frame mean brightness; 0.0 if either is constant.

    Parameters
    ----------
    a, b : np.ndarray [shape=(n, h, w, 3), uint8] or [shape=(n,), float]
        Frames, or per-frame brightness already computed.
    """
    ba, bb = _brightness_pair(a, b)
    return pearson(ba, bb)


def _brightness_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 1 and b.ndim == 1:
        if a.shape != b.shape:
            raise ValueError(f"brightness sequences differ in length: {a.shape} vs {b.shape}")
        return a.astype(np.float64), b.astype(np.float64)
    values = _per_frame(a, b, {"bright_a", "bright_b"})
    return values["bright_a"], values["bright_b"]


def polarity_agreement(pa: np.ndarray, pb: np.ndarray) -> float:
    """Fraction of frames whose precomputed polarities (+1/-1) agree (1.0 for no frames)."""
    pa, pb = np.asarray(pa), np.asarray(pb)
    if pa.shape != pb.shape:
        raise ValueError(f"polarity sequences differ in length: {pa.shape} vs {pb.shape}")
    return float(np.mean(pa == pb)) if len(pa) else 1.0


def polarity_accuracy(
    a: np.ndarray, b: np.ndarray, *, light_above: float = 175, dark_below: float = 80
) -> float:
    """Fraction of frames whose hysteresis light/dark polarity agrees.

    Parameters
    ----------
    a, b : np.ndarray [shape=(n, h, w, 3), uint8] or [shape=(n,), float]
        Frames, or per-frame brightness (0..255) already computed.
    light_above, dark_below : float
        Hysteresis thresholds of ``avstudio.render.polarity.track_polarity``
        (the scene turns light above the first, dark below the second).
    """
    ba, bb = _brightness_pair(a, b)
    kw = {"light_above": light_above, "dark_below": dark_below}
    return polarity_agreement(_polarity(ba, **kw), _polarity(bb, **kw))


def embedding_cosine(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean cosine similarity between matching rows (a zero row scores 0).

    Parameters
    ----------
    pred, true : np.ndarray [shape=(n, d), float]
    """
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape:
        raise ValueError(f"embedding arrays differ in shape: {pred.shape} vs {true.shape}")
    norms = np.linalg.norm(pred, axis=1) * np.linalg.norm(true, axis=1)
    cos = np.einsum("ij,ij->i", pred, true) / np.maximum(norms, 1e-12)
    return float(cos.mean()) if len(cos) else 0.0


def image_metrics(
    pred_frames: np.ndarray,
    true_frames: np.ndarray,
    *,
    threshold: float = 128,
    light_above: float = 175,
    dark_below: float = 80,
) -> dict[str, float]:
    """Every image metric in one chunked pass.

    Parameters
    ----------
    pred_frames, true_frames : np.ndarray [shape=(n, h, w, 3), uint8]
    threshold : float
        See :func:`iou_binary`.
    light_above, dark_below : float
        See :func:`polarity_accuracy`.

    Returns
    -------
    dict of str to float
        ``mae``, ``ssim``, ``iou``, ``brightness_corr``, ``polarity_accuracy``.
    """
    values = _per_frame(
        pred_frames, true_frames, {"mae", "ssim", "iou", "bright_a", "bright_b"}, threshold=threshold
    )
    kw = {"light_above": light_above, "dark_below": dark_below}
    return {
        "mae": float(values["mae"].mean()),
        "ssim": float(values["ssim"].mean()),
        "iou": float(values["iou"].mean()),
        "brightness_corr": pearson(values["bright_a"], values["bright_b"]),
        "polarity_accuracy": polarity_agreement(
            _polarity(values["bright_a"], **kw), _polarity(values["bright_b"], **kw)
        ),
    }


def _matches(metric: str, names: frozenset[str]) -> bool:
    name = metric.rsplit(".", 1)[-1]
    return name in names or any(name.endswith("_" + key) for key in names)


def metric_direction(metric: str) -> str | None:
    """``"lower"`` or ``"higher"`` (is better) for known metrics, None for other numbers
    (counts such as ``n_val``). Matched on the name or its last ``.``/``_`` suffix, so
    ``"mean_frame.mae"`` and ``"val_loss"`` count."""
    if _matches(metric, LOWER_IS_BETTER):
        return "lower"
    if _matches(metric, HIGHER_IS_BETTER):
        return "higher"
    return None


def lower_is_better(metric: str) -> bool:
    """True for error-like metrics (``mae``, losses); see :func:`metric_direction`."""
    return metric_direction(metric) == "lower"


def better(metric: str, a: float | None, b: float | None) -> bool:
    """Whether value ``a`` of ``metric`` is strictly better than ``b``.

    ``mae`` and losses are better lower, everything else higher (see
    :func:`metric_direction`). A missing or NaN value is never better, and
    anything is better than one.
    """
    def usable(v: float | None) -> bool:
        return v is not None and not (isinstance(v, float) and math.isnan(v))

    if not usable(a):
        return False
    if not usable(b):
        return True
    return a < b if lower_is_better(metric) else a > b
