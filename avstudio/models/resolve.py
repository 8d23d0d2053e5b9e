"""Find model weights on this machine, never on the network.

A model reference is either a local folder (absolute, ``~``, or relative to a
base directory such as the workspace) or a Hugging Face id ``"org/name"`` that
must already be in the local Hugging Face cache. Nothing here downloads, and
nothing imports ``huggingface_hub``: the cache layout
(``models--org--name/refs/main`` -> ``snapshots/<commit>/``) is read directly, so
a lookup cannot touch the network whatever the library's settings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from avstudio.errors import ModelError

KNOWN_MODELS: dict[str, str] = {
    "clap": "laion/clap-htsat-unfused",
    "clip": "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
    "sd15": "runwayml/stable-diffusion-v1-5",
    "ip_adapter": "h94/IP-Adapter",
}
"""The weights the original "blind painter" used, by role."""

MIRRORS: dict[str, tuple[str, ...]] = {
    "runwayml/stable-diffusion-v1-5": ("stable-diffusion-v1-5/stable-diffusion-v1-5",),
}
"""Hugging Face ids whose repository moved: a cached copy under any of the
other names is as good (runwayml's repository was taken down in 2024; the same
files live on as ``stable-diffusion-v1-5/stable-diffusion-v1-5``)."""

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder, honouring the environment *now*.

    ``HF_HUB_CACHE`` (or the older ``HUGGINGFACE_HUB_CACHE``) wins, then
    ``$HF_HOME/hub``, then ``$XDG_CACHE_HOME/huggingface/hub``, then
    ``~/.cache/huggingface/hub``.
    """
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return root / "huggingface" / "hub"


def is_hf_id(ref: str) -> bool:
    """True when ``ref`` looks like ``"org/name"`` rather than a path."""
    return bool(_HF_ID.match(ref)) and not ref.startswith((".", "~"))


def cached_snapshot(repo_id: str, *, cache: Path | None = None) -> Path | None:
    """The cached snapshot folder of a Hugging Face model (or of a mirror of it), or None.

    Follows ``refs/main``; without it (a cache copied without refs) takes the
    most recently modified snapshot.
    """
    cache = hf_cache_dir() if cache is None else cache
    for name in (repo_id, *MIRRORS.get(repo_id, ())):
        snapshot = _snapshot(cache, name)
        if snapshot is not None:
            return snapshot
    return None


def _snapshot(cache: Path, repo_id: str) -> Path | None:
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    ref_file = repo / "refs" / "main"
    if ref_file.is_file():
        snapshot = snapshots / ref_file.read_text().strip()
        if snapshot.is_dir():
            return snapshot
    candidates = [p for p in snapshots.iterdir() if p.is_dir()]
    if not candidates:
        return None
    return max(candidates, key=lambda p: p.stat().st_mtime)


def resolve_model(
    ref: str,
    *,
    role: str,
    required: tuple[str, ...] = (),
    base: Path | str | None = None,
    setting: str | None = None,
) -> Path:
    """Turn a model reference into a local folder that holds the required files.

    Parameters
    ----------
    ref : str
        A folder (absolute, ``~/...``, or relative to ``base``) or a Hugging Face
        id ``"org/name"`` looked up in the local cache only.
    role : str
        What the model is for, for messages, e.g. ``"CLAP audio encoder"``.
    required : tuple of str
        Files that must exist inside the folder, e.g. ``"config.json"`` or
        ``"unet/config.json"``. ``"a|b"`` accepts either file (weights stored
        as ``.safetensors`` or ``.bin``).
    base : path, optional
        Folder that relative paths are relative to (default: the current directory).
    setting : str, optional
        The manifest line a user could write instead, shown in the hint, e.g.
        ``"encoders.audio = 'clap:/path/to/folder'"``.

    Returns
    -------
    Path
        The model folder.

    Raises
    ------
    ModelError
        One line naming what was looked for and where, with a hint on how to
        bring the weights onto this machine; or naming the missing file of an
        incomplete folder.
    """
    folder = _find_folder(ref, role=role, base=base, setting=setting)
    for entry in required:
        options = entry.split("|")
        if not any((folder / option).is_file() for option in options):
            raise ModelError(
                f"{role} folder {folder} is incomplete: missing {' or '.join(options)}",
                hint=_fetch_hint(ref, setting) if is_hf_id(ref) else "copy the complete model folder again",
            )
    return folder


def _find_folder(ref: str, *, role: str, base: Path | str | None, setting: str | None) -> Path:
    ref = ref.strip()
    if not ref:
        raise ModelError(f"no {role} given", hint=_fetch_hint(None, setting))
    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = Path(base or ".").expanduser() / path
    if path.is_dir():
        return path.resolve()
    if path.exists():
        raise ModelError(
            f"{role} {path} is a file, not a model folder", hint="point at the folder that holds config.json"
        )
    if is_hf_id(ref):
        cache = hf_cache_dir()
        snapshot = cached_snapshot(ref, cache=cache)
        if snapshot is not None:
            return snapshot
        raise ModelError(
            f"{role} '{ref}' is neither a local folder nor in the Hugging Face cache {cache}",
            hint=_fetch_hint(ref, setting),
        )
    raise ModelError(f"{role} folder not found: {path}", hint=_fetch_hint(None, setting))


def _fetch_hint(ref: str | None, setting: str | None) -> str:
    instead = f"set {setting}" if setting else "point the manifest at a local folder"
    if ref is None:
        return f"check the path, or {instead}"
    ref = MIRRORS.get(ref, (ref,))[-1]  # a moved repository downloads under its new name
    return (
        f"on a machine with network: `hf download {ref}` (or `huggingface-cli download {ref}`), "
        f"then copy ~/.cache/huggingface to this machine (or set HF_HOME / HF_HUB_CACHE), or {instead}"
    )


def folder_size(path: Path | str) -> int:
    """Total bytes of the files under ``path`` (symlinks into the HF blob store followed).

    Returns
    -------
    int
        Bytes; 0 for a missing folder. A file counts once even when two links
        point at the same blob.
    """
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                stat = os.stat(os.path.join(root, name))
            except OSError:
                continue
            key = (stat.st_dev, stat.st_ino)
            if key not in seen:
                seen.add(key)
                total += stat.st_size
    return total


@contextmanager
def quiet_loading(*, diffusers: bool = False) -> Iterator[None]:
    """Silence transformers' (and optionally diffusers') load reports and progress bars.

    avstudio reports its own progress; the libraries' per-file bars and
    "UNEXPECTED key" tables (expected when loading one tower of a two-tower
    checkpoint) would only clutter the terminal and the TUI. ``diffusers`` is
    opt-in because importing its logging module imports torch and diffusers.
    """
    import transformers.utils.logging as tlog

    modules = [tlog]
    if diffusers:
        import diffusers.utils.logging as dlog

        modules.append(dlog)
    saved = [(m.get_verbosity(), m.is_progress_bar_enabled()) for m in modules]
    for module in modules:
        module.set_verbosity_error()
        module.disable_progress_bar()
    try:
        yield
    finally:
        for module, (level, bar) in zip(modules, saved):
            module.set_verbosity(level)
            if bar:
                module.enable_progress_bar()
