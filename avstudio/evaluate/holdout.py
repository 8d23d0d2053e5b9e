"""Evaluation of a trained mapper on the held-out block against two baselines, in one run.

Painted frames are the mapper's predictions decoded by the built-in renderer
(per-frame, with scene polarity), compared with the true frames of the
held-out block; the baselines are the mean training frame and nearest-neighbour
retrieval (the training frame whose audio embedding is closest).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

PREVIEW_ROWS = 6


def preview_indices(val_idx: np.ndarray, rows: int = PREVIEW_ROWS) -> np.ndarray:
    """Evenly spaced held-out frames used as contact-sheet rows."""
    if len(val_idx) == 0:
        return np.zeros(0, int)
    pick = np.linspace(0, len(val_idx) - 1, min(rows, len(val_idx))).round().astype(int)
    return np.asarray(val_idx)[pick]


def decode_predictions(decoder: Any, pred: np.ndarray, polarity: np.ndarray, *, size: tuple[int, int],
                       crispness: float) -> np.ndarray:
    """Frames [shape=(n, h, w, 3), uint8] of predicted codes, each painted as a cut.

    Parameters
    ----------
    pred : np.ndarray [shape=(n, d), float32]
    polarity : np.ndarray [shape=(n,), int8]
        Scene polarity per frame, tracked with hysteresis over the whole sequence.
    """
    from avstudio.render.base import FramePlan
    from avstudio.render.builtin import BuiltinRenderer

    renderer = BuiltinRenderer(decoder, size=size, crispness=crispness)
    plans = [FramePlan(embedding=e, cut=True, strength=1.0, polarity=int(p)) for e, p in zip(pred, polarity)]
    return renderer.render(plans, None, start=0)


def evaluate_holdout(ws: Any, data: dict[str, Any], result: Any, probe: np.ndarray,
                     log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Metrics of the mapper and both baselines on the held-out block.

    Returns
    -------
    dict
        ``{"mapper": {...}, "mean_frame": {...}, "nearest_neighbour": {...},
        "n_val": int, "preview": [frame indices]}``; image metrics are present
        when the image encoder can decode (built-in), embedding cosine always.
    """
    from avstudio.evaluate.baselines import mean_frame, nearest_neighbour_baseline
    from avstudio.evaluate.metrics import embedding_cosine, image_metrics
    from avstudio.mapper.train import predict
    from avstudio.stages.train import apply_probe

    train_idx, val_idx = np.asarray(result.train_idx), np.asarray(result.val_idx)
    if len(val_idx) == 0:
        return {"n_val": 0}
    a, i = data["inputs"], data["image"]["emb"]
    pred = predict(result.state_dict, result.mapper_config, a[val_idx])
    nn = nearest_neighbour_baseline(a[train_idx], train_idx, a[val_idx])  # video frame indices
    mean_code = i[train_idx].mean(axis=0, keepdims=True).repeat(len(val_idx), axis=0)
    out: dict[str, Any] = {
        "n_val": int(len(val_idx)),
        "preview": preview_indices(val_idx).tolist(),
        "mapper": {"embedding_cosine": float(embedding_cosine(pred, i[val_idx]))},
        "mean_frame": {"embedding_cosine": float(embedding_cosine(mean_code, i[val_idx]))},
        "nearest_neighbour": {"embedding_cosine": float(embedding_cosine(i[nn], i[val_idx]))},
    }
    if data["image"]["name"] != "builtin-image":
        log("image metrics skipped: the image encoder cannot decode frames without the GPU renderer")
        return out
    from avstudio.encoders.builtin_image import BuiltinImageEncoder

    decoder = BuiltinImageEncoder.from_state(data["image"]["state"], data["image"]["config"])
    temporal = ws.manifest.params["temporal"]
    kw = {"light_above": temporal["light_above"], "dark_below": temporal["dark_below"]}
    with ws.store.read("extract") as ex:
        frames = ex["frames"]
        true = frames[int(val_idx[0]):int(val_idx[-1]) + 1][val_idx - val_idx[0]]
        size = (true.shape[2], true.shape[1])
        mean = mean_frame(frames, stop=len(train_idx))  # the training block is the prefix [0, n_train)
        nn_frames = np.stack([frames[int(k)] for k in nn])
    from avstudio.render.polarity import track_polarity

    polarity = track_polarity(apply_probe(probe, pred), **kw)
    painted = decode_predictions(decoder, pred, polarity, size=size, crispness=ws.manifest.get("render.crispness"))
    baseline_mean = np.repeat(mean[None], len(val_idx), axis=0)
    for name, frames_ in (("mapper", painted), ("mean_frame", baseline_mean), ("nearest_neighbour", nn_frames)):
        out[name].update(image_metrics(frames_, true, **kw))
    log("held-out: " + ", ".join(f"{k} ssim {out[k].get('ssim', float('nan')):.3f}"
                                 for k in ("mapper", "mean_frame", "nearest_neighbour")))
    return out
