"""The blind painter's commands: ``paint``, ``checkpoints``, ``compare``."""

from __future__ import annotations

from pathlib import Path

import click

from avstudio.cli.common import (complete_checkpoints, interactive, json_option, open_workspace, print_json,
                                 workspace_option)

KEY_METRICS = {"polarity_bacc": "polarity", "brightness_r": "bright r", "mae": "mae", "realism_kid": "realism"}
"""Test-block scores in the listing (the full table follows it), with 8-character headers: 80 columns."""


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


def _metric_cell(info, metric: str, who: str = "painter") -> str:
    value = info.metrics.get(f"{who}.{metric}")
    return "" if value is None else f"{value:.3f}"


@click.group(invoke_without_command=True)
@workspace_option
@json_option
@click.pass_context
def checkpoints(ctx: click.Context, directory: str, as_json: bool) -> None:
    """List painter checkpoints: key params, validation loss (* = best, what "best" paints),
    test-block scores from the evaluate stage, and the full table with baselines for the
    checkpoint that paint uses. Subcommands tag, remove and prune them."""
    if ctx.invoked_subcommand is not None:
        return
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
    click.echo(f"{'name':<8} {'tag':<12} {'best':<4} {'hidden':>6} {'val loss':>8} "
               + " ".join(f"{label:>8}" for label in KEY_METRICS.values()))
    used = None
    for i in infos:
        if getattr(i, "broken", None):
            click.echo(f"{i.name:<8} broken: {i.broken}")
            continue
        if used is None and (chosen in (i.name, i.config.get("tag")) or (chosen == "best" and i.best)
                             or chosen == "latest"):
            used = i
        val = i.metrics.get("selection_loss", float("nan"))
        tag = str(i.config.get("tag") or "")[:12 - 8 * (used is i)] + (" (paint)" if used is i else "")
        click.echo(f"{i.name:<8} {tag:<12} {'*' if i.best else '':<4} "
                   f"{i.config.get('mapper', {}).get('hidden', ''):>6} {val:>8.4f} "
                   + " ".join(f"{_metric_cell(i, m, 'painter'):>8}" for m in KEY_METRICS))
    if used is None or not (used.path / EVALUATION_FILE).is_file():
        click.echo("test-block scores appear after `avstudio run evaluate`")
        return
    import json

    try:
        lines = evaluation_table(json.loads((used.path / EVALUATION_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, LookupError, TypeError, AttributeError):  # not the evaluate stage's report
        from avstudio.errors import ModelError

        raise ModelError(f"the test-block scores of {used.name} are unreadable: {used.path / EVALUATION_FILE} is "
                         "damaged", hint=f"score it again with `avstudio run -C {directory} --force evaluate`") from None
    for line in lines:
        click.echo(line)


@checkpoints.command("tag")
@click.argument("name", shell_complete=complete_checkpoints)
@click.argument("tag")
@workspace_option
def tag_checkpoint(name: str, tag: str, directory: str) -> None:
    """Give checkpoint NAME a short TAG (letters, digits, . _ -); paint.checkpoint, --checkpoint and
    compare accept it in place of the name."""
    import re

    from avstudio.errors import ModelError
    from avstudio.mapper.checkpoint import list_checkpoints, pick_checkpoint, update_config

    ws = open_workspace(directory, template="bad-apple", command="checkpoints tag")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,24}", tag) or tag in ("best", "latest"):
        raise ModelError(f"bad tag {tag!r}", hint="use up to 24 letters, digits, '.', '_' or '-' (not best/latest)")
    info = pick_checkpoint(ws.layout.checkpoints, name)
    clash = [i.name for i in list_checkpoints(ws.layout.checkpoints) if i.config.get("tag") == tag and i.name != info.name]
    if clash:
        raise ModelError(f"tag {tag!r} already names checkpoint {clash[0]}", hint="choose another tag")
    update_config(ws.layout.checkpoints, info.name, tag=tag)
    click.echo(f"{info.name} is now tagged {tag}")


def _confirm_delete(names: list[str], yes: bool) -> bool:
    return yes or click.confirm(f"delete checkpoint{'s' if len(names) > 1 else ''} {', '.join(names)}?",
                                default=False)


@checkpoints.command("rm")
@click.argument("names", nargs=-1, required=True, shell_complete=complete_checkpoints)
@workspace_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask first.")
def remove_checkpoint(names: tuple[str, ...], directory: str, yes: bool) -> None:
    """Delete checkpoints (asks first). If the best one goes, the best of the rest is marked."""
    from avstudio.mapper.checkpoint import pick_checkpoint, remove_checkpoints
    from avstudio.workspace.lock import WorkspaceLock

    ws = open_workspace(directory, template="bad-apple", command="checkpoints rm")
    picked = sorted({pick_checkpoint(ws.layout.checkpoints, n).name for n in names})
    if not _confirm_delete(picked, yes):
        click.echo("nothing deleted")
        return
    with WorkspaceLock(ws.layout.lock_file):
        best = remove_checkpoints(ws.layout.checkpoints, picked)
    click.echo(f"deleted {', '.join(picked)}" + (f"; best is now {best}" if best else ""))


@checkpoints.command("prune")
@workspace_option
@click.option("--keep", type=click.IntRange(min=0), default=3, show_default=True,
              help="How many of the newest checkpoints to keep (the best one is always kept).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask first.")
def prune_checkpoints(directory: str, keep: int, yes: bool) -> None:
    """Delete every checkpoint but the best and the KEEP newest (asks first)."""
    from avstudio.mapper.checkpoint import list_checkpoints, remove_checkpoints
    from avstudio.workspace.lock import WorkspaceLock

    ws = open_workspace(directory, template="bad-apple", command="checkpoints prune")
    infos = list_checkpoints(ws.layout.checkpoints)  # newest first
    doomed = [i.name for k, i in enumerate(infos) if k >= keep and not i.best]
    if not doomed:
        click.echo("nothing to prune")
        return
    if not _confirm_delete(doomed, yes):
        click.echo("nothing deleted")
        return
    with WorkspaceLock(ws.layout.lock_file):
        remove_checkpoints(ws.layout.checkpoints, doomed)
    click.echo(f"deleted {len(doomed)} checkpoints; kept {len(infos) - len(doomed)}")


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
