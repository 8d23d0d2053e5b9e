"""``avstudio init``: create a workspace from a template."""

from __future__ import annotations

from pathlib import Path

from avstudio.errors import MediaError, WorkspaceError
from avstudio.files import translate_os_errors
from avstudio.workspace.layout import MANIFEST_NAME, Layout
from avstudio.workspace.manifest import parse_manifest, write_text_atomic
from avstudio.workspace.store import Store
from avstudio.workspace.templates import instantiate, template_dir


def create_workspace(directory: str | Path, *, template: str, video: str | Path, force: bool = False,
                     name: str | None = None) -> Layout:
    """Create (or with ``force`` re-create) a workspace.

    The video path is resolved to an absolute path and probed, so a missing or
    non-media file is refused before anything is written. With ``force`` the
    old manifest is kept as ``avstudio.toml.bak`` and an
    existing manifest is replaced; the store is kept and re-evaluated (stages
    whose inputs changed become stale).
    """
    from avstudio.media.probe import probe, still_image_error

    template_dir(template)  # unknown template -> error before touching the disk
    video_path = Path(video).expanduser().resolve()
    if not video_path.exists():
        raise MediaError(f"video not found: {video_path}", hint="check the path passed to --video")
    info = probe(video_path)
    if not info.has_video:
        raise MediaError(f"{video_path} has no video stream", hint="pass a video file (e.g. .mp4, .mkv, .mov)")
    if info.is_still:
        raise still_image_error(video_path)
    root = Path(directory).expanduser().resolve()
    layout = Layout(root)
    if layout.manifest.exists() and not force:
        raise WorkspaceError(
            f"{root} is already a workspace ({MANIFEST_NAME} exists)",
            hint="pass --force to replace its manifest (outputs are kept), or choose another DIR",
        )
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} exists and is not a directory", hint="choose another DIR")
    try:
        root.mkdir(parents=True, exist_ok=True)
        text = instantiate(template, name=name or root.name, video=str(video_path))
        parse_manifest(text, layout.manifest)  # the template must validate
        layout.ensure_dirs()
        if layout.manifest.exists():  # --force: the old manifest (and its comments) stays as a backup
            backup = layout.manifest.with_name(layout.manifest.name + ".bak")
            backup.write_bytes(layout.manifest.read_bytes())
        write_text_atomic(layout.manifest, text)
    except OSError as exc:
        raise WorkspaceError(f"cannot write workspace {root}: {exc.strerror}",
                             hint="check the folder's permissions and free space") from None
    readme = template_dir(template) / "README.md"
    if readme.is_file() and not (root / "README.md").exists():
        with translate_os_errors(root, temps=[root / "README.md"], what="README.md"):
            (root / "README.md").write_text(readme.read_text(encoding="utf-8"), encoding="utf-8")
    Store(layout).write_root()
    return layout
