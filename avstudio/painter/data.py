"""What a painter learns from and paints for, read from a workspace's store."""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def group_key(name: str) -> str:
    """An encoder name as an HDF5 group name (``clip:laion/x`` -> ``clip:laion|x``)."""
    return name.replace("/", "|")


def load_state(group: Any) -> dict[str, np.ndarray]:
    """The fitted encoder state saved under an embeddings group's ``state/``."""
    return {k: group["state"][k][()] for k in group["state"]} if "state" in group else {}


def encoder_name(kind: str, spec: str, groups: Any) -> str:
    """The recorded name of the encoder ``spec`` (``builtin`` -> ``builtin-audio``)."""
    if spec == "builtin":
        return f"builtin-{kind}"
    key = group_key(spec)
    return str(groups[key].attrs["name"]) if key in groups else spec


def read_embeddings(ws: Any) -> dict[str, Any]:
    """The embeddings and fitted encoder states of the encoders the manifest names.

    Returns
    -------
    dict
        ``fps``, ``n``, and ``audio`` / ``image``: ``{"emb" [shape=(n, d), float32],
        "name", "dim", "config", "state"}``.
    """
    from avstudio.errors import StageError

    enc = ws.manifest.params["encoders"]
    out: dict[str, Any] = {}
    with ws.store.read("embed") as g:
        out["fps"] = float(g.attrs["fps"])
        out["n"] = int(g.attrs["n_frames"])
        for kind in ("audio", "image"):
            groups = g[kind]
            wanted = [k for k in groups if groups[k].attrs["name"] == encoder_name(kind, enc[kind], groups)]
            if not wanted:
                raise StageError(f"the store has no {kind} embeddings for encoder {enc[kind]!r}",
                                 hint="run `avstudio run embed`")
            grp = groups[wanted[0]]
            out[kind] = {"emb": grp["embeddings"][:], "name": str(grp.attrs["name"]), "dim": int(grp.attrs["dim"]),
                         "config": json.loads(grp.attrs["config"]), "state": load_state(grp)}
    return out


def audio_embeddings(ws: Any, name: str) -> np.ndarray:
    """The store's audio embeddings of encoder ``name`` [shape=(n, d), float32]."""
    from avstudio.errors import ModelError

    with ws.store.read("embed") as g:
        key = group_key(name)
        if key not in g["audio"]:
            raise ModelError(f"the store has no audio embeddings of {name!r}",
                             hint="set encoders.audio to the checkpoint's encoder and run `avstudio run embed`")
        return g["audio"][key]["embeddings"][:]


def onsets(ws: Any, n: int) -> np.ndarray:
    """Per-frame onset strength [shape=(n,), float32] from ``features`` (zeros without sound)."""
    with ws.store.read("features") as fg:
        return fg["audio/onset"][:n] if "audio" in fg else np.zeros(n, np.float32)


def output_size(ws: Any) -> tuple[int, int]:
    """``render.width``/``height``, or the analysis frame size where they are 0."""
    w, h = ws.manifest.get("render.width"), ws.manifest.get("render.height")
    with ws.store.read("extract") as ex:
        aw, ah = int(ex.attrs["width"]), int(ex.attrs["height"])
    if w and not h:
        h = int(round(w * ah / aw / 2)) * 2
    if h and not w:
        w = int(round(h * aw / ah / 2)) * 2
    return (w or aw, h or ah)
