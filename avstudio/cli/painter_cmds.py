"""The blind painter's commands: ``paint``, ``checkpoints``, ``compare``."""

from __future__ import annotations

from pathlib import Path

import click

from avstudio.cli.common import (complete_checkpoints, interactive, json_option, open_workspace, print_json,
                                 workspace_option)

KEY_METRICS = ("polarity_bacc", "brightness_r", "iou", "mae", "realism_kid", "change_ratio")


@click.command()
@workspace_option
@click.option("--audio", "audio", required=True, type=click.Path(path_type=str),
              help="Audio to paint: wav/flac/ogg/mp3, or a video file's soundtrack.")
@click.option("--checkpoint", shell_complete=complete_checkpoints, help="Checkpoint name, 'best' or 'latest' (default: paint.checkpoint).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=str),
              help="Output video (default: outputs/painted-<audio name>.mp4).")
@click.option("--max-frames", type=click.IntRange(min=1), help="Paint at most N frames (quick tests).")
@click.option("--start", "start", type=click.Choice(["light", "dark"]),
              help="Scene polarity of the first frame (default: that of the training video's first frame).")
@json_option
def paint(directory: str, audio: str, checkpoint: str | None, out: str | None, max_frames: int | None,
          start: str | None, as_json: bool) -> None:
    """Paint a new video for any audio file with a trained painter.

    The video has the workspace's analysis frame rate and the length of the
    audio (or N frames with --max-frames), with the audio muxed in with its own
    channels (stereo stays stereo). Scenes switch where the new song's sections
    change; --out is checked before anything is painted.
    """
    from avstudio.cancel import CancelToken
    from avstudio.cli.reporters import make_reporter
    from avstudio.painter.song import paint_song
    from avstudio.workspace.lock import WorkspaceLock

    ws = open_workspace(directory, template="bad-apple", command="paint")
    target = Path(out) if out else ws.layout.outputs / f"painted-{Path(audio).stem}.mp4"
    reporter = make_reporter(as_json=as_json, interactive=interactive())
    lock = WorkspaceLock(ws.layout.lock_file)
    lock.acquire()
    try:
        result = paint_song(ws, Path(audio), checkpoint=checkpoint, out=target, max_frames=max_frames,
                            initial_polarity={"light": 1, "dark": -1}.get(start or ""), on_event=reporter,
                            cancel=CancelToken())
    finally:
        reporter.close()
        lock.release()
    if not as_json:
        click.echo(f"wrote {result['out']} ({result['frames']} frames, {result['duration']:.3f} s, "
                   f"{result['polarity_switches']} scene switches, {result['channels']}-channel audio) "
                   f"with checkpoint {result['checkpoint']}")


def _metric_cell(info, metric: str, who: str = "mapper") -> str:
    value = info.metrics.get(f"{who}.{metric}")
    return "" if value is None else f"{value:.3f}"


@click.command()
@workspace_option
@json_option
def checkpoints(directory: str, as_json: bool) -> None:
    """List painter checkpoints: key params, validation loss (* = best, what "best" paints),
    test-block scores from the evaluate stage, and the full table with baselines for the
    checkpoint that paint uses."""
    from avstudio.evaluate.holdout import evaluation_table
    from avstudio.mapper.checkpoint import EVALUATION_FILE, list_checkpoints

    ws = open_workspace(directory, template="bad-apple", command="checkpoints")
    infos = list_checkpoints(ws.layout.checkpoints)
    if as_json:
        print_json([i.to_dict() if hasattr(i, "to_dict") else vars(i) for i in infos])
        return
    if not infos:
        click.echo(f"no checkpoints yet in {ws.layout.checkpoints} (run `avstudio run train -C {directory}`)")
        return
    chosen = ws.manifest.get("paint.checkpoint")
    click.echo(f"{'name':<30} {'best':<4} {'hidden':>6} {'val loss':>9} " + " ".join(f"{m[:9]:>9}" for m in KEY_METRICS))
    used = None
    for i in infos:
        if getattr(i, "broken", None):
            click.echo(f"{i.name:<30} broken: {i.broken}")
            continue
        if used is None and (i.name == chosen or (chosen == "best" and i.best) or chosen == "latest"):
            used = i
        val = i.metrics.get("selection_loss", float("nan"))
        name = i.name + (" (paint)" if used is i else "")
        click.echo(f"{name:<30} {'*' if i.best else '':<4} {i.config.get('mapper', {}).get('hidden', ''):>6} {val:>9.4f} "
                   + " ".join(f"{_metric_cell(i, m, 'painter'):>9}" for m in KEY_METRICS))
    if used is None or not (used.path / EVALUATION_FILE).is_file():
        click.echo("test-block scores appear after `avstudio run evaluate`")
        return
    import json

    report = json.loads((used.path / EVALUATION_FILE).read_text())
    for line in evaluation_table(report):
        click.echo(line)


@click.command()
@click.argument("names", nargs=-1, required=True, metavar="A B [...]", shell_complete=complete_checkpoints)
@workspace_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=str),
              help="Contact-sheet PNG (default: outputs/compare.png).")
@json_option
def compare(names: tuple[str, ...], directory: str, out: str | None, as_json: bool) -> None:
    """Compare checkpoints: params that differ, metrics (best marked), and a contact-sheet PNG.

    The PNG has the same test-block timestamps as rows and true frame | mean-frame
    baseline | each checkpoint as columns, above the loss curves.
    """
    from avstudio.errors import ModelError
    from avstudio.evaluate.compare import compare_table
    from avstudio.evaluate.preview import write_comparison
    from avstudio.mapper.checkpoint import pick_checkpoint

    if len(names) < 2:
        raise ModelError("compare needs at least two checkpoints", hint="see `avstudio checkpoints` for names")
    ws = open_workspace(directory, template="bad-apple", command="compare")
    infos = [pick_checkpoint(ws.layout.checkpoints, n) for n in names]
    table = compare_table(infos)
    png = write_comparison(ws, infos, Path(out) if out else ws.layout.outputs / "compare.png")
    if as_json:
        print_json({**table, "png": str(png)})
        return
    from avstudio.cli.compare_view import print_compare

    print_compare(table, [i.name for i in infos])
    click.echo(f"contact sheet: {png}")


COMMANDS = [paint, checkpoints, compare]
