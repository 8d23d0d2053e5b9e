"""Training the mapper: temporal split, cosine + MSE loss, seeded minibatch AdamW.

:class:`TrainConfig`, :data:`FIELDS` and :func:`split_contiguous` are torch-free;
:func:`mapper_loss`, :func:`train_mapper` and :func:`predict` import torch when
called. Training is deterministic on CPU for a given seed and thread count.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, NamedTuple

import numpy as np

from avstudio.cancel import NEVER, CancelToken
from avstudio.errors import ManifestError, StageError
from avstudio.mapper.model import MapperConfig, build_mapper

# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Range:
    """An allowed interval for a numeric parameter; ``None`` bounds are open-ended."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True

    def __str__(self) -> str:
        lo = None if self.low is None else f"{self.low:g} {'<' if self.low_open else '<='} "
        hi = None if self.high is None else f" {'<' if self.high_open else '<='} {self.high:g}"
        if lo and hi:
            return f"{lo}x{hi}"
        if lo:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if hi:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return "any value"


class FieldSpec(NamedTuple):
    """One ``[train]`` manifest key: ``(type, default, range, doc)``.

    ``default is None`` means the key is optional: leave it out of the manifest
    to get the automatic behaviour the doc describes.
    """

    type: type
    default: Any
    range: Range
    doc: str


FIELDS: dict[str, FieldSpec] = {
    "epochs": FieldSpec(int, 200, Range(1), "passes over the training frames"),
    "lr": FieldSpec(float, 1e-3, Range(0, low_open=True), "AdamW learning rate"),
    "weight_decay": FieldSpec(float, 1e-2, Range(0), "AdamW weight decay"),
    "batch_size": FieldSpec(int, 64, Range(1), "frames per optimiser step"),
    "val_fraction": FieldSpec(
        float, 0.15, Range(0, 1, True, True),
        "fraction of the video, just before the test block, for validation (early stopping, model choice)"
    ),
    "test_fraction": FieldSpec(
        float, 0.15, Range(0, 1, True, True), "last fraction of the video, never trained on: the evaluate stage's report"
    ),
    "gap_frames": FieldSpec(
        int, None, Range(0),
        "frames dropped before validation and before test (default: audio window length in frames)",
    ),
    "cos_weight": FieldSpec(float, 1.0, Range(0), "weight of the (1 - cosine) loss term"),
    "mse_weight": FieldSpec(float, 1.0, Range(0), "weight of the MSE term (gets the length right)"),
    "seed": FieldSpec(int, 0, Range(0), "random seed for weights, dropout and shuffling"),
    "patience": FieldSpec(
        int, 20, Range(1), "stop after this many epochs without a better validation loss (early stopping)"
    ),
    "hidden": FieldSpec(int, 256, Range(1), "width of the mapper's hidden layers"),
    "depth": FieldSpec(int, 2, Range(1), "number of hidden layers"),
    "dropout": FieldSpec(float, 0.2, Range(0, 1, False, True), "dropout probability in hidden layers"),
}
"""Every ``[train]`` key with its type, default, allowed range and one-line doc."""


def _kind(spec: FieldSpec) -> str:
    return "an int" if spec.type is int else "a number"


def _range_hint(key: str, spec: FieldSpec) -> str:
    default = "or leave it out" if spec.default is None else f"default {spec.default}"
    return f"set train.{key} in the manifest to {_kind(spec)} {spec.range}; {default}"


def _check_field(key: str, value: Any) -> Any:
    """Coerce one ``[train]`` value to its type or raise ManifestError naming ``train.<key>``."""
    spec = FIELDS[key]
    if value is None:
        if spec.default is None:
            return None
        raise ManifestError(f"train.{key} must be set", hint=_range_hint(key, spec))
    ok_types = (int,) if spec.type is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_types):
        raise ManifestError(
            f"train.{key} must be {_kind(spec)} {spec.range}, got {value!r}", hint=_range_hint(key, spec)
        )
    value = spec.type(value)
    if not (math.isfinite(value) and value in spec.range):
        raise ManifestError(f"train.{key} must be {spec.range}, got {value!r}", hint=_range_hint(key, spec))
    return value


@dataclass
class TrainConfig:
    """Training parameters (the manifest's ``[train]`` table); see :data:`FIELDS`.

    ``hidden``, ``depth`` and ``dropout`` shape the mapper and also live in
    ``[train]``; :meth:`mapper_config` turns them into a :class:`MapperConfig`.
    Epoch numbers in results and callbacks are 1-based.
    """

    epochs: int = 200
    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 64
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    gap_frames: int | None = None
    cos_weight: float = 1.0
    mse_weight: float = 1.0
    seed: int = 0
    patience: int | None = 20
    hidden: int = 256
    depth: int = 2
    dropout: float = 0.2

    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, _check_field(f.name, getattr(self, f.name)))
        if self.cos_weight == 0 and self.mse_weight == 0:
            raise ManifestError(
                "train.cos_weight and train.mse_weight are both 0",
                hint="set at least one of them > 0 (defaults 1.0 and 1.0)",
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from the manifest's ``[train]`` table (missing keys get defaults).

        Raises
        ------
        ManifestError
            For an unknown key or a value of the wrong type or out of range; the
            message names ``train.<key>`` and the allowed range.
        """
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ManifestError(
                f"unknown key train.{unknown[0]}", hint=f"valid keys: {', '.join(FIELDS)}"
            )
        return cls(**dict(data))  # __post_init__ checks and coerces every value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field (``None`` for unset optional ones)."""
        return asdict(self)

    def mapper_config(self, in_dim: int, out_dim: int) -> MapperConfig:
        """The :class:`MapperConfig` these parameters describe for the given dims."""
        return MapperConfig(in_dim, out_dim, hidden=self.hidden, depth=self.depth, dropout=self.dropout)


def window_gap(window_seconds: float, fps: float) -> int:
    """Default ``gap_frames``: the audio window length in frames (rounded up).

    Frames closer than this share audio samples, so dropping this many frames
    between train and validation keeps validation audio unseen.
    """
    return max(0, math.ceil(window_seconds * fps - 1e-9))


# --------------------------------------------------------------------------- split


def split_contiguous(n: int, *, val_fraction: float, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``n`` time-ordered samples: train first, then ``gap`` dropped, then validation.

    Parameters
    ----------
    n : int
        Number of samples (frames), in time order.
    val_fraction : float
        Share of ``n`` in the validation block, ``round(n * val_fraction)``, at least 1.
    gap : int
        Samples dropped between the two blocks.

    Returns
    -------
    train_idx : np.ndarray [shape=(n_train,), int64]
        ``0 .. n_train - 1``.
    val_idx : np.ndarray [shape=(n_val,), int64]
        The last ``n_val`` indices, ``n - n_val .. n - 1``.

    Raises
    ------
    StageError
        If fewer than one training sample would remain.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap!r}")
    n_val = max(1, int(round(n * val_fraction)))
    n_train = n - n_val - gap
    if n_train < 1:
        raise StageError(
            f"too few frames to train: {n} frames leave {n_train} for training "
            f"after {n_val} validation and {gap} gap frames",
            hint="use a longer video or lower train.val_fraction / train.gap_frames",
        )
    return np.arange(n_train, dtype=np.int64), np.arange(n - n_val, n, dtype=np.int64)


# --------------------------------------------------------------------------- loss


def mapper_loss(pred, target, *, cos_weight: float = 1.0, mse_weight: float = 1.0):
    """``cos_weight * mean(1 - cosine) + mse_weight * mean((pred - target) ** 2)``.

    The cosine term gets the direction right; the MSE term (mean over every
    element) gets the length right, which cosine alone leaves free.

    Parameters
    ----------
    pred, target : torch.Tensor [shape=(n, d), float32]

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    import torch.nn.functional as F

    loss = pred.new_zeros(())
    if cos_weight:
        loss = loss + cos_weight * (1.0 - F.cosine_similarity(pred, target, dim=-1, eps=1e-8)).mean()
    if mse_weight:
        loss = loss + mse_weight * F.mse_loss(pred, target)
    return loss


# --------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    """What :func:`train_mapper` returns.

    Attributes
    ----------
    state_dict : dict of str to np.ndarray [float32]
        The best-by-validation weights, ready for ``safetensors.numpy.save_file``.
    best_epoch : int
        1-based epoch of those weights.
    history : list of dict
        ``{"epoch", "train_loss", "val_loss"}`` per epoch run.
    train_idx, val_idx : np.ndarray [int64]
        Sample indices used for training and validation.
    mapper_config : MapperConfig
    train_config : TrainConfig
        The config used, with ``gap_frames`` resolved to the gap actually used
        and ``hidden`` / ``depth`` / ``dropout`` taken from the mapper.
    seconds : float
        Wall time of the training loop.
    stopped_early : bool
        True when ``patience`` ended training before ``epochs``.
    """

    state_dict: dict[str, np.ndarray]
    best_epoch: int
    history: list[dict[str, float]]
    train_idx: np.ndarray
    val_idx: np.ndarray
    mapper_config: MapperConfig
    train_config: TrainConfig
    seconds: float
    stopped_early: bool = field(default=False)

    @property
    def best_val_loss(self) -> float:
        """Validation loss at :attr:`best_epoch`."""
        return self.history[self.best_epoch - 1]["val_loss"]


@contextlib.contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """Seed torch's CPU RNG and enable deterministic kernels; restore both after."""
    import torch

    previous = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous)


def _adamw(params, *, lr: float, weight_decay: float):
    """AdamW with the fused CPU kernel where this torch has it (same maths, fewer ops)."""
    import torch

    params = list(params)
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def _dropout_masks(rng: np.random.Generator, n: int, mapper: MapperConfig) -> list:
    """One ``(n, hidden)`` keep-mask per block, scaled by ``1 / (1 - dropout)``; None when no dropout."""
    import torch

    if mapper.dropout == 0:
        return [None] * mapper.depth
    scale = np.float32(1.0 / (1.0 - mapper.dropout))
    masks = []
    for _ in range(mapper.depth):
        keep = rng.random((n, mapper.hidden), dtype=np.float32) >= mapper.dropout
        masks.append(torch.from_numpy(keep.astype(np.float32) * scale))
    return masks


def _check_embeddings(audio_emb: np.ndarray, image_emb: np.ndarray) -> None:
    if audio_emb.ndim != 2 or image_emb.ndim != 2:
        raise ValueError(
            f"embeddings must be 2-D, got audio {audio_emb.shape} and image {image_emb.shape}"
        )
    if len(audio_emb) != len(image_emb):
        raise ValueError(f"{len(audio_emb)} audio embeddings but {len(image_emb)} image embeddings")
    for label, emb in (("audio", audio_emb), ("image", image_emb)):
        if not np.isfinite(emb).all():
            raise StageError(
                f"{label} embeddings contain NaN or infinite values",
                hint=f"rerun the embed stage (`avstudio run embed`) and check the {label} encoder",
            )


def train_mapper(
    audio_emb: np.ndarray,
    image_emb: np.ndarray,
    *,
    config: TrainConfig | None = None,
    mapper: MapperConfig | None = None,
    window_frames: int = 0,
    split: tuple[np.ndarray, np.ndarray] | None = None,
    on_epoch: Callable[[int, int, float, float], None] | None = None,
    cancel: CancelToken = NEVER,
) -> TrainResult:
    """Train a mapper from audio embeddings to image embeddings of the same frames.

    Validation is the last contiguous block of time (:func:`split_contiguous`).
    Minibatch AdamW on shuffled training frames (numpy RNG seeded with
    ``config.seed``; torch's RNG is seeded too and restored afterwards), the
    weights with the lowest validation loss are kept.

    Parameters
    ----------
    audio_emb : np.ndarray [shape=(n, da), float]
        One audio embedding per frame, in time order.
    image_emb : np.ndarray [shape=(n, di), float]
        The image embedding of the same frames.
    config : TrainConfig, optional
        Defaults to ``TrainConfig()``.
    mapper : MapperConfig, optional
        Defaults to ``config.mapper_config(da, di)``; its dims must match the
        data. When given, it overrides ``config.hidden`` / ``depth`` / ``dropout``.
    window_frames : int
        Audio window length in frames; the train/validation gap when
        ``config.gap_frames`` is None (see :func:`window_gap`).
    split : (train_idx, val_idx), optional
        Frame indices to train and validate on (e.g. from
        :func:`avstudio.painter.split.split_blocks`); default
        :func:`split_contiguous` with ``config.val_fraction``.
    on_epoch : callable, optional
        Called as ``on_epoch(epoch, n_epochs, train_loss, val_loss)`` after each
        epoch (``epoch`` is 1-based).
    cancel : CancelToken
        Checked once per epoch.

    Returns
    -------
    TrainResult

    Raises
    ------
    StageError
        Too few frames for the split, non-finite embeddings, or a diverging loss.
    Cancelled
        When ``cancel`` is cancelled.
    """
    import torch

    config = config or TrainConfig()
    audio_emb = np.ascontiguousarray(audio_emb, dtype=np.float32)
    image_emb = np.ascontiguousarray(image_emb, dtype=np.float32)
    _check_embeddings(audio_emb, image_emb)
    mapper = mapper or config.mapper_config(audio_emb.shape[1], image_emb.shape[1])
    if (mapper.in_dim, mapper.out_dim) != (audio_emb.shape[1], image_emb.shape[1]):
        raise ValueError(
            f"mapper is {mapper.in_dim}->{mapper.out_dim} but the data is "
            f"{audio_emb.shape[1]}->{image_emb.shape[1]}"
        )
    gap = config.gap_frames if config.gap_frames is not None else max(0, int(window_frames))
    if split is None:
        train_idx, val_idx = split_contiguous(len(audio_emb), val_fraction=config.val_fraction, gap=gap)
    else:
        train_idx, val_idx = (np.asarray(s, np.int64) for s in split)

    x_train, y_train = torch.from_numpy(audio_emb[train_idx]), torch.from_numpy(image_emb[train_idx])
    x_val, y_val = torch.from_numpy(audio_emb[val_idx]), torch.from_numpy(image_emb[val_idx])
    weights = {"cos_weight": config.cos_weight, "mse_weight": config.mse_weight}
    rng = np.random.default_rng(config.seed)
    n_train, batch = len(train_idx), config.batch_size

    history: list[dict[str, float]] = []
    best_loss, best_epoch, best_state = math.inf, 0, None
    stopped_early = False
    start = time.perf_counter()
    with _deterministic(config.seed):
        model = build_mapper(mapper)
        optimiser = _adamw(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        for epoch in range(1, config.epochs + 1):
            cancel.check()
            model.train()
            order = torch.from_numpy(rng.permutation(n_train))
            x_epoch, y_epoch = x_train[order], y_train[order]
            total = 0.0
            for lo in range(0, n_train, batch):
                xb, yb = x_epoch[lo : lo + batch], y_epoch[lo : lo + batch]
                masks = _dropout_masks(rng, len(xb), mapper)
                loss = mapper_loss(model(xb, masks), yb, **weights)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += loss.item() * len(xb)
            model.eval()
            with torch.no_grad():
                val_loss = mapper_loss(model(x_val), y_val, **weights).item()
            train_loss = total / n_train
            if not math.isfinite(train_loss):
                raise StageError(
                    f"mapper training diverged at epoch {epoch} (training loss {train_loss})",
                    hint=f"lower train.lr (now {config.lr:g}) or check the embeddings",
                )
            history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
            if val_loss < best_loss:
                best_loss, best_epoch = val_loss, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if on_epoch is not None:
                on_epoch(epoch, config.epochs, train_loss, val_loss)
            if config.patience is not None and epoch - best_epoch >= config.patience:
                stopped_early = epoch < config.epochs
                break
    if best_state is None:  # every validation loss was NaN: keep the last weights
        best_epoch = len(history)
        best_state = model.state_dict()
    return TrainResult(
        state_dict={k: v.numpy().astype(np.float32, copy=True) for k, v in best_state.items()},
        best_epoch=best_epoch,
        history=history,
        train_idx=train_idx,
        val_idx=val_idx,
        mapper_config=mapper,
        train_config=replace(
            config, gap_frames=gap, hidden=mapper.hidden, depth=mapper.depth, dropout=mapper.dropout
        ),
        seconds=time.perf_counter() - start,
        stopped_early=stopped_early,
    )


def predict(
    state_dict: Mapping[str, np.ndarray],
    mapper_config: MapperConfig,
    audio_emb: np.ndarray,
    *,
    batch_size: int = 4096,
) -> np.ndarray:
    """Map audio embeddings to image embeddings with trained weights.

    Parameters
    ----------
    state_dict : dict of str to np.ndarray
        Weights from :class:`TrainResult` or a loaded checkpoint.
    mapper_config : MapperConfig
    audio_emb : np.ndarray [shape=(n, da), float]
    batch_size : int
        Rows per forward pass.

    Returns
    -------
    np.ndarray [shape=(n, di), float32]
    """
    import torch

    audio_emb = np.ascontiguousarray(audio_emb, dtype=np.float32)
    if audio_emb.ndim != 2 or audio_emb.shape[1] != mapper_config.in_dim:
        raise ValueError(f"expected audio embeddings (n, {mapper_config.in_dim}), got {audio_emb.shape}")
    with torch.random.fork_rng(devices=[]):  # the throw-away init must not move the caller's RNG
        model = build_mapper(mapper_config)
    weights = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in state_dict.items()}
    model.load_state_dict(weights)
    model.eval()
    out = np.empty((len(audio_emb), mapper_config.out_dim), dtype=np.float32)
    with torch.no_grad():
        for lo in range(0, len(audio_emb), batch_size):
            out[lo : lo + batch_size] = model(torch.from_numpy(audio_emb[lo : lo + batch_size])).numpy()
    return out
