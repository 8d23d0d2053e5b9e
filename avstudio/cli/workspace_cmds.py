"""``init``, ``demo``, ``show`` and ``export``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from avstudio.cli.common import complete_templates, interactive, open_workspace, workspace_option


@click.command()
@click.argument("directory", metavar="DIR", type=click.Path(path_type=str))
@click.option("--template", "-t", default="sonify", show_default=True, shell_complete=complete_templates,
              help="Workspace template (see `avstudio templates`): sonify, bad-apple.")
@click.option("--video", required=True, type=click.Path(path_type=str), help="The source video.")
@click.option("--name", help="Project name (default: the folder name).")
@click.option("--force", is_flag=True, help="Replace an existing manifest (kept as avstudio.toml.bak; outputs are "
                                            "kept and re-checked).")
def init(directory: str, template: str, video: str, name: str | None, force: bool) -> None:
    """Create a workspace in DIR from a template, for the video at --video."""
    from avstudio.workspace.create import create_workspace

    layout = create_workspace(directory, template=template, video=video, force=force, name=name)
    click.echo(f"created {template} workspace in {layout.root}")
    click.echo(f"edit {layout.manifest} to change params, then run:")
    click.echo(f"  avstudio run -C {directory}")


def _demo_video(template: str) -> Path:
    from avstudio.errors import MediaError
    from avstudio.resources import data_dir

    name = {"sonify": "bigbuckbunny_320x180.mp4", "bad-apple": "sectoid_shadowplay_36s_160x120.mp4",
            "song": "metal_madness_20s_160x120.mp4"}[template]
    path = data_dir("examples") / name
    if not path.is_file():
        raise MediaError(f"bundled example {name} is missing from {path.parent}", hint="reinstall avstudio")
    return path


@click.command()
@click.argument("directory", metavar="[DIR]", default="avstudio-demo", type=click.Path(path_type=str))
@click.option("--template", "-t", default="sonify", show_default=True, type=click.Choice(["sonify", "bad-apple"]),
              help="Which demo pipeline to run.")
@click.option("--json", "as_json", is_flag=True, help="Print run events as JSON lines.")
def demo(directory: str, template: str, as_json: bool) -> None:
    """Make a workspace in DIR from the bundled example clip, run it, print the outputs.

    bad-apple: trains a painter on a 36 s shadow-play clip, paints it, scores it on the
    test block (outputs/evaluation.png), then paints a video for a song it never heard
    (another bundled Sectoid clip's soundtrack).
    """
    from avstudio.cli.reporters import make_reporter
    from avstudio.cli.run_cmds import run_with_sigint
    from avstudio.workspace.create import create_workspace

    root = Path(directory)
    if not (root / "avstudio.toml").is_file():
        create_workspace(root, template=template, video=_demo_video(template))
        click.echo(f"created {template} workspace in {root.resolve()}")
    ws = open_workspace(directory)
    reporter = make_reporter(as_json=as_json, interactive=interactive())
    result = run_with_sigint(ws, (), force=False, downstream=False, reporter=reporter)
    if result.exit_code:
        raise SystemExit(result.exit_code)
    if template == "bad-apple":
        from avstudio.cancel import CancelToken
        from avstudio.painter.song import paint_song

        song = _demo_video("song")
        out = ws.layout.outputs / f"painted-{song.stem}.mp4"
        if not out.exists():
            reporter = make_reporter(as_json=as_json, interactive=interactive())
            try:
                painted = paint_song(ws, song, checkpoint=None, out=out, max_frames=None, initial_polarity=None,
                                     on_event=reporter, cancel=CancelToken())
            finally:
                reporter.close()
            click.echo(f"painted a song it never heard: {painted['out']} ({painted['duration']:.1f} s, "
                       f"{painted['polarity_switches']} scene switches)")
    click.echo("outputs:")
    for path in sorted(ws.layout.outputs.glob("*")):
        click.echo(f"  {path}")
    click.echo(f"next: avstudio status -C {directory}   |   avstudio show {directory}   |   avstudio tui {directory}")


@click.command()
@click.argument("path", metavar="[PATH]", default=None, required=False, type=click.Path(path_type=str))
@workspace_option
def show(path: str | None, directory: str) -> None:
    """Print the store's tree (groups, datasets with shapes, dtypes, attributes).

    PATH is a workspace directory (default: -C DIR, or the current one) or any HDF5 file.
    """
    from avstudio.workspace.show import show_lines

    for line in show_lines(Path(path or directory)):
        click.echo(line)


@click.command()
def templates() -> None:
    """List the workspace templates and what each one makes."""
    from avstudio.stages import PIPELINES
    from avstudio.workspace.templates import INTRO

    for name, intro in INTRO.items():
        stages = " -> ".join(ref.split(":")[0].rsplit(".", 1)[-1] for ref in PIPELINES[name])
        click.echo(f"{name:<10} {intro}\n{'':<10} stages: {stages}")


@click.command()
@workspace_option
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "midi"]), default="json", show_default=True,
              help="json/csv: per-frame features in the original project's format; midi: the sonification's "
                   "notes and control curves as a Standard MIDI File (for a DAW).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=str),
              help="Write to a file instead of stdout (midi: default outputs/sonified.mid).")
def export(directory: str, fmt: str, out: str | None) -> None:
    """Export per-frame features (JSON or CSV) or the sonification as MIDI."""
    from avstudio.errors import MediaError
    from avstudio.stages.export import export_midi, export_records, to_csv, to_json
    from avstudio.workspace.manifest import write_text_atomic

    ws = open_workspace(directory)
    if fmt == "midi":
        path = Path(out) if out else ws.layout.outputs / "sonified.mid"
        notes = export_midi(ws, path)
        click.echo(f"wrote {notes} notes to {path}", err=True)
        return
    data = export_records(ws)
    if fmt == "json":
        text = to_json(data)
    else:
        with ws.store.read("extract") as ex:
            text = to_csv(data, fps=float(ex.attrs["fps"]))
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        write_text_atomic(Path(out), text)
    except OSError as exc:
        raise MediaError(f"cannot write {out}: {exc.strerror}", hint="choose a writable path for --out") from None
    click.echo(f"wrote {len(data['frames'])} frames to {out}", err=True)


COMMANDS = [init, demo, show, templates, export]


@click.command()
@workspace_option
@click.option("--outputs", "what", flag_value="outputs", help="Delete outputs/ (the written videos, WAVs, PNGs).")
@click.option("--store", "what", flag_value="store", help="Delete every stage's results (store/, recorded state, "
                                                          "unfinished paint chunks): every stage becomes missing.")
@click.option("--all", "what", flag_value="all", help="Both, plus checkpoints/ and logs/ (the manifest stays).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask first.")
def clean(directory: str, what: str | None, yes: bool) -> None:
    """Delete results to start over (asks first). The manifest and the source media are never touched."""
    from avstudio.errors import ManifestError
    from avstudio.files import remove_path, translate_os_errors
    from avstudio.workspace.lock import WorkspaceLock

    if what is None:
        raise ManifestError("say what to clean", hint="pass --outputs, --store or --all")
    ws = open_workspace(directory)
    layout = ws.layout
    targets = {"outputs": [layout.outputs],
               "store": [layout.store_dir, layout.state_file, layout.state_dir / "resume"],
               "all": [layout.outputs, layout.store_dir, layout.state_file, layout.state_dir / "resume",
                       layout.checkpoints, layout.logs_dir]}[what]
    present = [p for p in targets if p.exists() or p.is_symlink()]
    if not present:
        click.echo("nothing to clean")
        return
    names = ", ".join(str(p.relative_to(layout.root)) for p in present)
    if not yes and not click.confirm(f"delete {names} in {layout.root}?", default=False):
        click.echo("nothing deleted")
        return
    with WorkspaceLock(layout.lock_file):  # never under a running run
        for path in present:
            with translate_os_errors(path.parent):
                remove_path(path)  # a link goes, never what it points to
        layout.ensure_dirs()
        with translate_os_errors(layout.root):
            layout.outputs.mkdir(exist_ok=True)
    click.echo(f"deleted {names}")


COMMANDS.append(clean)
