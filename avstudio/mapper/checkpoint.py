"""Checkpoint folders: ``checkpoints/<name>/{config.json, model.safetensors, metrics.json}``.

A checkpoint is written into ``checkpoints/.<name>.tmp/`` and moved into place
with :func:`os.replace`, so a crash never leaves a half-written checkpoint under
its real name. Weights are stored with ``safetensors.numpy`` (never pickle).

Listing and picking (:func:`list_checkpoints`, :func:`pick_checkpoint`) read
JSON only; this module imports neither torch nor safetensors at import time.

``config.json`` holds::

    {"name", "created" (ISO 8601, UTC), "avstudio_version",
     "mapper": MapperConfig.to_dict(), "train": TrainConfig.to_dict(),
     "encoders": {"audio": {"name", "dim"}, "image": {"name", "dim"}},
     "data_fingerprint": str, "best_epoch": int, "best": bool}

(:func:`checkpoint_config` builds it). ``metrics.json`` holds
``{"history": [{"epoch", "train_loss", "val_loss"}, ...], "final": {metric: value}}``
(``"evaluation"`` is accepted in place of ``"final"``; nested dicts are fine).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avstudio.errors import ModelError
from avstudio.files import disk_full_error, honour_umask, is_disk_full, translate_os_errors

CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
EXTRAS_FILE = "extras.safetensors"
FORMAT = 2
"""Folder format (2: the painter bundle of :mod:`avstudio.painter.bundle`); other formats list as broken."""
_RETRAIN = "delete the folder and rerun `avstudio run train`"


@dataclass
class CheckpointInfo:
    """What :func:`list_checkpoints` knows about one folder, from its JSON files.

    Attributes
    ----------
    name : str
        Folder name.
    path : Path
        The folder.
    created : str or None
        ISO 8601 creation time from ``config.json``.
    config : dict
        The parsed ``config.json`` (empty when broken).
    metrics : dict of str to float
        Summary: the numbers under ``metrics.json``'s ``"final"`` (or
        ``"evaluation"``) section, nested dicts flattened with dots
        (``"mapper.ssim"``), plus ``best_val_loss`` and ``best_epoch`` from the history.
    history : list of dict
        Per-epoch ``{"epoch", "train_loss", "val_loss"}`` from ``metrics.json``.
    raw_metrics : dict
        The whole parsed ``metrics.json`` (empty if missing or unreadable).
    best : bool
        True when ``config.json`` marks it as its run's best.
    broken : str or None
        Why the folder cannot be used (unreadable ``config.json``, missing
        weights); None for a good checkpoint.
    """

    name: str
    path: Path
    created: str | None
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    best: bool = False
    broken: str | None = None
    raw_metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``--json`` output)."""
        return {
            "name": self.name,
            "path": str(self.path),
            "created": self.created,
            "best": self.best,
            "broken": self.broken,
            "config": self.config,
            "metrics": self.metrics,
            "history": self.history,
            "raw_metrics": self.raw_metrics,
        }


@dataclass
class LoadedCheckpoint:
    """A checkpoint opened by :func:`load_checkpoint`.

    Attributes
    ----------
    name : str
    path : Path
    state_dict : dict of str to np.ndarray [float32]
        Mapper weights (feed to :func:`avstudio.mapper.train.predict`).
    config : dict
        ``config.json``.
    metrics : dict
        ``metrics.json`` (``{"history": [...], "final": {...}}``).
    extras : dict of str to np.ndarray
        ``extras.safetensors`` (empty if the checkpoint has none).
    """

    name: str
    path: Path
    state_dict: dict[str, np.ndarray]
    config: dict[str, Any]
    metrics: dict[str, Any]
    extras: dict[str, np.ndarray]

    @property
    def mapper_config(self):
        """The :class:`~avstudio.mapper.model.MapperConfig` stored in ``config.json``."""
        from avstudio.mapper.model import MapperConfig

        return MapperConfig.from_dict(self.config["mapper"])


# --------------------------------------------------------------------------- writing


def avstudio_version() -> str:
    """The installed avstudio version, or ``"0+unknown"`` when it cannot be told."""
    try:
        from avstudio import __version__

        return str(__version__)
    except ImportError:
        pass
    try:
        from importlib.metadata import version

        return version("avstudio")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "0+unknown"


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def checkpoint_config(
    *,
    mapper: Mapping[str, Any],
    train: Mapping[str, Any],
    audio: tuple[str, int],
    image: tuple[str, int],
    data_fingerprint: str,
    best_epoch: int,
    best: bool = False,
) -> dict[str, Any]:
    """Build the ``config`` dict :func:`save_checkpoint` expects.

    Parameters
    ----------
    mapper, train : dict
        ``MapperConfig.to_dict()`` and ``TrainConfig.to_dict()``.
    audio, image : (str, int)
        Encoder ``(name, dim)`` the embeddings came from.
    data_fingerprint : str
        Fingerprint of the training data (the embed stage's fingerprint).
    best_epoch : int
        1-based epoch of the stored weights.
    best : bool
        Whether this checkpoint is its run's best.
    """
    return {
        "format": FORMAT,
        "mapper": dict(mapper),
        "train": dict(train),
        "encoders": {
            "audio": {"name": str(audio[0]), "dim": int(audio[1])},
            "image": {"name": str(image[0]), "dim": int(image[1])},
        },
        "data_fingerprint": str(data_fingerprint),
        "best_epoch": int(best_epoch),
        "best": bool(best),
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def _contiguous(arrays: Mapping[str, np.ndarray], dtype: Any = None) -> dict[str, np.ndarray]:
    return {k: np.ascontiguousarray(v, dtype=dtype) for k, v in arrays.items()}


def new_checkpoint_name(root: str | os.PathLike, *, prefix: str = "") -> str:
    """A free short checkpoint name: 6 hex digits (``c3a9f2``), or ``<prefix>-<6 hex>``.

    Short and unique, so it fits a table at 80 columns and any unique part of it
    picks it; order comes from ``config.json``'s ``created``, and a user tag
    (``avstudio checkpoints tag``) can name it.

    Parameters
    ----------
    root : path
        The ``checkpoints/`` folder (need not exist yet).
    prefix : str
    """
    import uuid

    root = Path(root)
    while True:
        short = uuid.uuid4().hex[:6]
        name = f"{prefix}-{short}" if prefix else short
        taken = [p.name for p in root.iterdir()] if root.is_dir() else []
        if not any(short in other for other in taken):  # no existing name contains it: its parts stay unique
            return name


def save_checkpoint(
    root: str | os.PathLike,
    name: str,
    *,
    state_dict: Mapping[str, np.ndarray],
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    extras: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write a checkpoint folder atomically and return its path.

    Parameters
    ----------
    root : path
        The ``checkpoints/`` folder (created if missing).
    name : str
        Folder name, e.g. from :func:`new_checkpoint_name`. An existing
        checkpoint of that name is replaced.
    state_dict : dict of str to np.ndarray
        Mapper weights (``TrainResult.state_dict``).
    config : dict
        See :func:`checkpoint_config`; ``name`` is set to ``name``, and
        ``created`` and ``avstudio_version`` are filled in when absent.
    metrics : dict
        ``{"history": [...], "final": {...}}``.
    extras : dict of str to np.ndarray, optional
        Small fitted arrays to keep alongside (``extras.safetensors``).

    Raises
    ------
    ModelError
        If the folder cannot be written.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import save_file

    if not name or name.startswith(".") or os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(f"invalid checkpoint name: {name!r}")
    root = Path(root)
    final, tmp = root / name, root / f".{name}.tmp"
    config = dict(config)
    config["name"] = name
    config.setdefault("created", _now_iso())
    config.setdefault("avstudio_version", avstudio_version())
    try:
        root.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        save_file(_contiguous(state_dict, np.float32), str(tmp / MODEL_FILE))
        if extras:
            save_file(_contiguous(extras), str(tmp / EXTRAS_FILE))
        honour_umask(*(p for p in (tmp / MODEL_FILE, tmp / EXTRAS_FILE) if p.exists()))  # safetensors writes 0600
        _write_json(tmp / METRICS_FILE, dict(metrics))
        _write_json(tmp / CONFIG_FILE, config)  # last: a folder with config.json is complete
        if final.exists():
            old = root / f".{name}.old"
            if old.exists():
                shutil.rmtree(old)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except (OSError, SafetensorError) as exc:  # safetensors reports I/O errors as its own error
        shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(exc):
            needed = sum(np.asarray(a).nbytes for a in (*state_dict.values(), *(extras or {}).values()))
            raise disk_full_error(exc, root, needed, what=f"checkpoint {name}") from exc
        raise ModelError(
            f"cannot write checkpoint {name} in {root}: {getattr(exc, 'strerror', None) or exc}",
            hint="check that the workspace folder is writable and the disk is not full",
        ) from exc
    return final


def set_best(root: str | os.PathLike, name: str, *, best: bool = True) -> None:
    """Mark (or unmark) a checkpoint as best by rewriting its ``config.json`` atomically."""
    update_config(root, name, best=bool(best))


def update_config(root: str | os.PathLike, name: str, **values: Any) -> None:
    """Set keys of a checkpoint's ``config.json`` (``best``, ``tag``), rewriting it atomically."""
    path = Path(root) / name / CONFIG_FILE
    config = _read_config(path)
    if isinstance(config, str):
        raise ModelError(f"checkpoint {name}: {config}", hint=_RETRAIN)
    config.update(values)
    tmp = path.with_name(f".{CONFIG_FILE}.tmp")
    with translate_os_errors(path.parent, temps=[tmp], what=f"{name}/{CONFIG_FILE}"):
        _write_json(tmp, config)
        os.replace(tmp, path)


def remove_checkpoints(root: str | os.PathLike, names: list[str]) -> str | None:
    """Delete checkpoint folders; if the best one goes, mark the best of the rest on the same data.

    Returns
    -------
    str or None
        The checkpoint marked best afterwards.
    """
    root = Path(root)
    infos = {i.name: i for i in list_checkpoints(root)}
    fingerprints = {infos[n].config.get("data_fingerprint") for n in names if n in infos and infos[n].best}
    for name in names:
        shutil.rmtree(root / name)
    best = None
    for fp in fingerprints:
        best = mark_best(root, data_fingerprint=fp) or best
    return best or next((i.name for i in list_checkpoints(root) if i.best), None)


def mark_best(root: str | os.PathLike, *, data_fingerprint: str) -> str | None:
    """Mark exactly one checkpoint best: the lowest ``selection_loss`` among those trained on
    ``data_fingerprint`` (the current data); every other checkpoint is unmarked.

    Returns
    -------
    str or None
        The best checkpoint's name (None when none was trained on that data).
    """
    infos = [i for i in list_checkpoints(root) if i.config]  # broken but readable folders get unmarked too
    same = [i for i in infos if i.broken is None and i.config.get("data_fingerprint") == data_fingerprint
            and isinstance(i.config.get("selection_loss"), (int, float))]
    best = min(same, key=lambda i: (i.config["selection_loss"], i.name)).name if same else None
    for info in infos:
        if info.best != (info.name == best):
            set_best(root, info.name, best=info.name == best)
    return best


# --------------------------------------------------------------------------- listing


def _read_config(path: Path) -> dict[str, Any] | str:
    """The parsed ``config.json``, or a one-line reason it cannot be used."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return "config.json is missing"
    except (OSError, UnicodeDecodeError) as exc:
        return f"config.json is unreadable ({exc})"
    except json.JSONDecodeError as exc:
        return f"config.json is not valid JSON ({exc.msg} at line {exc.lineno})"
    if not isinstance(data, dict):
        return "config.json is not a JSON object"
    return data


def flatten_dotted(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to one level with dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_dotted(value, dotted + "."))
        else:
            out[dotted] = value
    return out


FINAL_SECTIONS = ("final", "evaluation")
"""Keys of ``metrics.json`` whose numbers make up a checkpoint's metric summary."""


def _metrics_summary(metrics: Mapping[str, Any]) -> tuple[dict[str, float], list[dict[str, float]]]:
    history = metrics.get("history")
    history = [dict(h) for h in history if isinstance(h, Mapping)] if isinstance(history, list) else []
    summary: dict[str, float] = {}
    for section in FINAL_SECTIONS:
        final = metrics.get(section)
        if isinstance(final, Mapping):
            for key, value in flatten_dotted(final).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    summary[key] = float(value)
    val = [(h["val_loss"], h.get("epoch")) for h in history if isinstance(h.get("val_loss"), (int, float))]
    val = [pair for pair in val if not math.isnan(pair[0])]
    if val:
        loss, epoch = min(val, key=lambda pair: pair[0])
        summary.setdefault("best_val_loss", float(loss))
        if isinstance(epoch, (int, float)):
            summary.setdefault("best_epoch", float(epoch))
    return summary, history


def format_problem(config: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(what, fix)`` when ``config.json`` is of another bundle format than :data:`FORMAT`, else None."""
    fmt = config.get("format", 1)
    if fmt == FORMAT:
        return None
    if isinstance(fmt, int) and fmt < FORMAT:
        return (f"bundle format {fmt}, this avstudio reads format {FORMAT} (it predates the painter bundle: "
                "no polarity head or frame library)", "retrain with `avstudio run train --force`")
    return f"bundle format {fmt}, this avstudio reads format {FORMAT}", "upgrade avstudio to read it"


EVALUATION_FILE = "evaluation.json"
TARGET_METRICS = {"crispness": "truth_crispness", "flicker": "truth_flicker"}
"""Metrics scored by closeness to the truth's own value (reported as ``<name>_error``)."""


def evaluation_summary(path: str | os.PathLike, subset: str = "music") -> dict[str, float]:
    """The evaluate stage's test-block scores of a checkpoint, flattened: ``painter.iou``,
    ``mean_frame.mae``... plus ``<metric>_error`` for metrics where closer to the truth is
    better (``crispness``, ``flicker``; ``change_ratio_error`` = |log ratio|). Empty before
    an evaluation."""
    try:
        data = json.loads((Path(path) / EVALUATION_FILE).read_text())
        rows = data["subsets"][subset]["rows"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    out: dict[str, float] = {}
    for who, values in rows.items():
        for key, value in values.items():
            if not isinstance(value, (int, float)) or key.startswith("truth_"):
                continue
            out[f"{who}.{key}"] = float(value)
            if key in TARGET_METRICS and isinstance(values.get(TARGET_METRICS[key]), (int, float)):
                out[f"{who}.{key}_error"] = abs(float(value) - float(values[TARGET_METRICS[key]]))
            if key == "change_ratio" and value > 0:
                out[f"{who}.change_ratio_error"] = abs(math.log(float(value)))
    return out


def read_checkpoint_info(path: str | os.PathLike) -> CheckpointInfo:
    """Describe one checkpoint folder from its JSON files (never raises for a bad folder)."""
    path = Path(path)
    config = _read_config(path / CONFIG_FILE)
    if isinstance(config, str):
        return CheckpointInfo(path.name, path, None, broken=config)
    info = CheckpointInfo(
        name=path.name,
        path=path,
        created=config.get("created") if isinstance(config.get("created"), str) else None,
        config=config,
        best=config.get("best") is True,
    )
    if not (path / MODEL_FILE).is_file():
        info.broken = "model.safetensors is missing"
    elif (problem := format_problem(config)) is not None:
        info.broken = f"{problem[0]}: {problem[1]}"
    try:
        metrics = json.loads((path / METRICS_FILE).read_text())
        if isinstance(metrics, Mapping):
            info.raw_metrics = dict(metrics)
            info.metrics, info.history = _metrics_summary(metrics)
    except (OSError, ValueError):
        pass  # metrics are informative; a checkpoint without them still loads
    info.metrics.update(evaluation_summary(path))
    if isinstance(config.get("selection_loss"), (int, float)):
        info.metrics["selection_loss"] = float(config["selection_loss"])
    return info


def _sort_key(info: CheckpointInfo) -> tuple[float, str]:
    stamp = None
    if info.created:
        try:
            created = _dt.datetime.fromisoformat(info.created)
            if created.tzinfo is None:
                created = created.replace(tzinfo=_dt.timezone.utc)
            stamp = created.timestamp()
        except ValueError:
            pass
    if stamp is None:
        try:
            stamp = info.path.stat().st_mtime
        except OSError:
            stamp = 0.0
    return stamp, info.name


def list_checkpoints(root: str | os.PathLike) -> list[CheckpointInfo]:
    """Every checkpoint folder under ``root``, newest first, from JSON only.

    Hidden folders (in-progress ``.<name>.tmp``) are skipped; a folder with a
    missing or broken ``config.json`` or missing weights is listed with
    ``broken`` set to the reason. A missing ``root`` gives an empty list.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    infos = [read_checkpoint_info(p) for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(infos, key=_sort_key, reverse=True)


def _available(infos: list[CheckpointInfo]) -> str:
    names = [i.name for i in infos if i.broken is None]
    return ", ".join(names) if names else "none"


def pick_checkpoint(root: str | os.PathLike, requested: str) -> CheckpointInfo:
    """Resolve ``"best"`` (the one marked best), ``"latest"`` (newest), a name, a tag, or a
    unique part of a name.

    Broken folders are never picked by ``"best"`` / ``"latest"``.

    Raises
    ------
    ModelError
        If nothing matches (the hint lists the available names) or a part of a
        name matches several (the message lists them).
    """
    infos = list_checkpoints(root)
    usable = [i for i in infos if i.broken is None]
    if requested in ("best", "latest"):
        candidates = [i for i in usable if i.best] if requested == "best" else usable
        if candidates:
            return candidates[0]
        what = "marked best" if requested == "best" and usable else "usable"
        raise ModelError(
            f"no checkpoint {what} in {root}",
            hint="train one with `avstudio run train`"
            + (f" or pick one of: {_available(infos)}" if usable else ""),
        )
    for info in infos:
        if info.name == requested or (requested and info.config.get("tag") == requested):
            return info
    matches = [i for i in infos if requested and requested in i.name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ModelError(
            f"checkpoint name '{requested}' is ambiguous: it matches {', '.join(i.name for i in matches)}",
            hint="give more of the name",
        )
    raise ModelError(
        f"no checkpoint named '{requested}' in {root}",
        hint=f"available: {_available(infos)}; or use 'best' or 'latest'",
    )


# --------------------------------------------------------------------------- loading


def _load_arrays(path: Path, name: str, label: str) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except FileNotFoundError as exc:
        raise ModelError(f"checkpoint {name}: {label} is missing", hint=_RETRAIN) from exc
    except Exception as exc:  # noqa: BLE001 - safetensors raises several kinds
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"checkpoint {name}: {label} is corrupted ({reason})", hint=_RETRAIN) from exc


def check_encoder(name: str, config: Mapping[str, Any], role: str, expected: tuple[str, int]) -> None:
    """Refuse a checkpoint whose ``role`` (audio or image) encoder is not ``expected`` ``(name, dim)`` (one line)."""
    record = (config.get("encoders") or {}).get(role)
    want_name, want_dim = str(expected[0]), int(expected[1])
    if not isinstance(record, Mapping):
        raise ModelError(
            f"checkpoint {name} does not record its {role} encoder",
            hint="retrain with `avstudio run train`",
        )
    have_name, have_dim = record.get("name"), record.get("dim")
    if have_name != want_name or have_dim != want_dim:
        raise ModelError(
            f"checkpoint {name} was trained on {role} encoder '{have_name}' ({have_dim}-d) "
            f"but the manifest uses '{want_name}' ({want_dim}-d)",
            hint=f"retrain with `avstudio run train`, or set encoders.{role} "
            f"back to '{_manifest_spelling(have_name)}'",
        )


def _manifest_spelling(encoder_name: Any) -> str:
    """How ``encoders.*`` spells an encoder (the built-in ones record ``builtin-audio``/``-image``)."""
    return "builtin" if str(encoder_name).startswith("builtin-") else str(encoder_name)


def _check_shapes(name: str, config: Mapping[str, Any], state_dict: Mapping[str, np.ndarray]) -> None:
    from avstudio.mapper.model import MapperConfig, expected_shapes

    try:
        expected = expected_shapes(MapperConfig.from_dict(config["mapper"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"checkpoint {name}: config.json has no valid mapper section ({exc})", hint=_RETRAIN
        ) from exc
    have = {k: tuple(v.shape) for k, v in state_dict.items()}
    if have != expected:
        diff = sorted(set(have.items()) ^ set(expected.items()))
        raise ModelError(
            f"checkpoint {name}: model.safetensors does not match config.json "
            f"(first difference: {diff[0][0]})",
            hint=_RETRAIN,
        )


def load_checkpoint(
    root_or_path: str | os.PathLike,
    name: str | None = None,
    *,
    expect_audio: tuple[str, int] | None = None,
    expect_image: tuple[str, int] | None = None,
) -> LoadedCheckpoint:
    """Open a checkpoint and check it against the manifest's encoders.

    Parameters
    ----------
    root_or_path : path
        The ``checkpoints/`` folder when ``name`` is given, else the checkpoint folder itself.
    name : str, optional
        A checkpoint name, ``"best"`` or ``"latest"`` (see :func:`pick_checkpoint`).
    expect_audio, expect_image : (str, int), optional
        The manifest's encoder ``(name, dim)``; a checkpoint trained on another
        encoder is refused.

    Raises
    ------
    ModelError
        Unknown name (the hint lists the available ones), broken ``config.json``,
        missing or corrupted ``model.safetensors``, weights that do not match the
        recorded mapper shape, or encoders that differ from the expected ones.
    """
    path = Path(root_or_path)
    if name is not None:
        path = pick_checkpoint(path, name).path
    label = path.name
    if not path.is_dir():
        raise ModelError(
            f"checkpoint folder not found: {path}", hint="pass a folder under checkpoints/ or a checkpoint name"
        )
    config = _read_config(path / CONFIG_FILE)
    if isinstance(config, str):
        raise ModelError(f"checkpoint {label}: {config}", hint=_RETRAIN)
    if expect_audio is not None:
        check_encoder(label, config, "audio", expect_audio)
    if expect_image is not None:
        check_encoder(label, config, "image", expect_image)
    state_dict = _load_arrays(path / MODEL_FILE, label, MODEL_FILE)
    _check_shapes(label, config, state_dict)
    extras = _load_arrays(path / EXTRAS_FILE, label, EXTRAS_FILE) if (path / EXTRAS_FILE).exists() else {}
    try:
        metrics = json.loads((path / METRICS_FILE).read_text())
    except (OSError, ValueError):
        metrics = {}
    return LoadedCheckpoint(label, path, state_dict, config, metrics, extras)
