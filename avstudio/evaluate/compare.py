"""Checkpoints side by side: the parameters that differ and the metrics, best marked.

Pure data from :class:`~avstudio.mapper.checkpoint.CheckpointInfo` (JSON only);
the CLI and the TUI render it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from avstudio.evaluate.holdout import BASELINES
from avstudio.evaluate.metrics import better, metric_direction
from avstudio.mapper.checkpoint import flatten_dotted

BASELINE_PREFIXES = tuple(f"{b}." for b in BASELINES)  # the same test block for every checkpoint: not ranked
_NOT_PARAMS = frozenset({"name", "created", "best", "best_epoch", "format"})
_METRIC_ORDER = (
    "polarity_bacc", "brightness_r", "iou", "mae", "crispness", "crispness_error", "realism_kid", "change_r",
    "change_ratio", "change_ratio_error", "flicker", "flicker_error", "selection_loss", "best_val_loss",
)  # by their last dotted part, then the rest by name


def _same(values: list[Any]) -> bool:
    first = json.dumps(values[0], sort_keys=True, default=str)
    return all(json.dumps(v, sort_keys=True, default=str) == first for v in values[1:])


_CANDIDATES = ("painter", *BASELINES)


def _metric_key(name: str) -> tuple[int, int, str]:
    who, _, last = name.rpartition(".")  # "painter.mae" sits with "mean_frame.mae", the painter first
    return (_METRIC_ORDER.index(last) if last in _METRIC_ORDER else len(_METRIC_ORDER),
            _CANDIDATES.index(who) if who in _CANDIDATES else len(_CANDIDATES), name)


def compare_table(infos: list) -> dict[str, Any]:
    """Compare checkpoints by their ``config.json`` and metric summaries.

    Parameters
    ----------
    infos : list of CheckpointInfo
        In the column order wanted (e.g. from ``list_checkpoints``). Broken ones
        are left out of the columns and reported under ``"broken"``.

    Returns
    -------
    dict
        ``checkpoints``: names (one column each);
        ``best_flags``: whether each is marked best;
        ``created``: creation times;
        ``params``: dotted parameter (``"train.lr"``, ``"mapper.hidden"``,
        ``"encoders.audio.name"``...) -> values per checkpoint, only for parameters
        that differ (None where a checkpoint lacks one);
        ``metrics``: metric -> ``{"values": [...], "best": [column indices],
        "lower_is_better": bool or None}`` (ties all marked; no best when fewer
        than two checkpoints have a value, or for numbers that are not scores,
        such as ``n_val``, where ``lower_is_better`` is None);
        ``broken``: name -> reason.
    """
    good = [i for i in infos if i.broken is None]
    table: dict[str, Any] = {
        "checkpoints": [i.name for i in good],
        "best_flags": [bool(i.best) for i in good],
        "created": [i.created for i in good],
        "params": {},
        "metrics": {},
        "broken": {i.name: i.broken for i in infos if i.broken is not None},
    }
    flat = [{k: v for k, v in flatten_dotted(i.config).items() if k not in _NOT_PARAMS} for i in good]
    for key in sorted(set().union(*flat)) if flat else []:
        values = [f.get(key) for f in flat]
        if len(values) > 1 and not _same(values):
            table["params"][key] = values

    names = sorted(set().union(*(i.metrics for i in good)) if good else set(), key=_metric_key)
    for name in names:
        values = [i.metrics.get(name) for i in good]
        present = [v for v in values if v is not None and not math.isnan(v)]
        direction = metric_direction(name)
        best: list[int] = []
        if len(present) > 1 and direction is not None and not name.startswith(BASELINE_PREFIXES):
            top = present[0]
            for v in present[1:]:
                if better(name, v, top):
                    top = v
            best = [k for k, v in enumerate(values) if v is not None and v == top]
        table["metrics"][name] = {
            "values": values,
            "best": best,
            "lower_is_better": None if direction is None else direction == "lower",
        }
    return table
