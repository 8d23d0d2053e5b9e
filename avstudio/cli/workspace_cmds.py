"""``init``, ``demo``, ``show`` and ``export``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from avstudio.cli.common import interactive, open_workspace, workspace_option


@click.command()
@click.argument("directory", metavar="DIR", type=click.Path(path_type=str))
@click.option("--template", "-t", default="sonify", show_default=True,
              help="Workspace template (see templates/): sonify, bad-apple.")
@click.option("--video", required=True, type=click.Path(path_type=str), help="The source video.")
@click.option("--name", help="Project name (default: the folder name).")
@click.option("--force", is_flag=True, help="Replace an existing manifest (outputs are kept and re-checked).")
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
@click.argument("path", metavar="[PATH]", default=".", type=click.Path(path_type=str))
def show(path: str) -> None:
    """Print the store's tree (groups, datasets with shapes, dtypes, attributes).

    PATH is a workspace directory (default: current) or any HDF5 file.
    """
    from avstudio.workspace.show import show_lines

    for line in show_lines(Path(path)):
        click.echo(line)


@click.command()
@workspace_option
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), help="Write to a file instead of stdout.")
def export(directory: str, fmt: str, out: str | None) -> None:
    """Export per-frame features in the original project's format (JSON or CSV)."""
    from avstudio.errors import MediaError
    from avstudio.stages.export import export_records, to_csv, to_json
    from avstudio.workspace.manifest import write_text_atomic

    ws = open_workspace(directory)
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


COMMANDS = [init, demo, show, export]
