"""The blind painter's mapper: audio embeddings -> image embeddings.

The architecture is the original ``BlindPainterMapper``: the input embedding is
L2-normalised, passes through ``depth`` blocks of
``Linear -> LayerNorm -> ReLU -> Dropout`` and a final ``Linear`` to ``out_dim``.

This module imports torch only inside :func:`build_mapper`, so
:class:`MapperConfig` and :func:`expected_shapes` are cheap to use from the CLI
and from checkpoint listing.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class MapperConfig:
    """Shape of the mapper MLP.

    Attributes
    ----------
    in_dim : int
        Audio embedding dimension ``da``.
    out_dim : int
        Image embedding dimension ``di``.
    hidden : int
        Width of every hidden block.
    depth : int
        Number of ``Linear -> LayerNorm -> ReLU -> Dropout`` blocks.
    dropout : float
        Dropout probability in each block, ``0 <= dropout < 1``.
    """

    in_dim: int
    out_dim: int
    hidden: int = 512
    depth: int = 2
    dropout: float = 0.1

    def __post_init__(self) -> None:
        for key in ("in_dim", "out_dim", "hidden", "depth"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MapperConfig.{key} must be an int >= 1, got {value!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"MapperConfig.dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MapperConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        return cls(
            in_dim=int(data["in_dim"]),
            out_dim=int(data["out_dim"]),
            hidden=int(data.get("hidden", 512)),
            depth=int(data.get("depth", 2)),
            dropout=float(data.get("dropout", 0.1)),
        )


def expected_shapes(config: MapperConfig) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of :func:`build_mapper` ``(config)``, without torch.

    Used to check a loaded ``model.safetensors`` against its ``config.json``.

    Returns
    -------
    dict of str to tuple of int
        ``state_dict`` key -> shape.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    width = config.in_dim
    for block in range(config.depth):
        linear, norm = 4 * block, 4 * block + 1
        shapes[f"layers.{linear}.weight"] = (config.hidden, width)
        shapes[f"layers.{linear}.bias"] = (config.hidden,)
        shapes[f"layers.{norm}.weight"] = (config.hidden,)
        shapes[f"layers.{norm}.bias"] = (config.hidden,)
        width = config.hidden
    last = 4 * config.depth
    shapes[f"layers.{last}.weight"] = (config.out_dim, width)
    shapes[f"layers.{last}.bias"] = (config.out_dim,)
    return shapes


@functools.cache
def _mapper_class() -> type:
    """Define the torch module class on first use (keeps torch out of import time)."""
    import torch
    from torch import nn

    class BlindPainterMapper(nn.Module):
        """L2-normalised input -> [Linear, LayerNorm, ReLU, Dropout] x depth -> Linear."""

        def __init__(self, config: MapperConfig) -> None:
            super().__init__()
            self.config = config
            layers: list[nn.Module] = []
            width = config.in_dim
            for _ in range(config.depth):
                layers += [
                    nn.Linear(width, config.hidden),
                    nn.LayerNorm(config.hidden),
                    nn.ReLU(),
                    nn.Dropout(config.dropout),
                ]
                width = config.hidden
            layers.append(nn.Linear(width, config.out_dim))
            self.layers = nn.Sequential(*layers)

        def forward(
            self, x: torch.Tensor, dropout_masks: list[torch.Tensor | None] | None = None
        ) -> torch.Tensor:
            """Map ``(n, in_dim)`` to ``(n, out_dim)``.

            ``dropout_masks`` (one per block, ``(n, hidden)`` keep-masks already
            scaled by ``1 / (1 - dropout)``, or None for "no dropout") replaces
            the Dropout layers; the trainer draws them with numpy, which is both
            seeded by ``TrainConfig.seed`` and several times faster than torch's
            CPU generator.
            """
            x = nn.functional.normalize(x, dim=-1, eps=1e-8)
            if dropout_masks is None:
                return self.layers(x)
            masks = iter(dropout_masks)
            for layer in self.layers:
                if isinstance(layer, nn.Dropout):
                    mask = next(masks)
                    x = x if mask is None else x * mask
                else:
                    x = layer(x)
            return x

    return BlindPainterMapper


def build_mapper(config: MapperConfig):
    """Build a freshly initialised mapper (uses torch's global RNG for the weights).

    Parameters
    ----------
    config : MapperConfig

    Returns
    -------
    torch.nn.Module
        Maps ``(n, in_dim)`` float32 tensors to ``(n, out_dim)``; parameter names
        and shapes are :func:`expected_shapes` ``(config)``.
    """
    return _mapper_class()(config)
