"""Runs as processes: --detach, attach, stop, logs, and a run that outlives its terminal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from click.testing import CliRunner

from avstudio.cli import cli
from avstudio.workspace.lock import read_holder
from avstudio.workspace.workspace import Workspace

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "AVSTUDIO_DEBUG": ""}


def avstudio(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "avstudio", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


def slow_ws(make_ws, long_clip):
    return make_ws(long_clip, analysis__chunk=8, analysis__size=64)


def wait_until(predicate, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_detach_returns_while_the_run_goes_on_and_attach_follows_it_to_the_end(make_ws, long_clip):
    ws = slow_ws(make_ws, long_clip)
    r = avstudio("run", "-C", ws.root, "--detach")
    assert r.returncode == 0, r.stderr
    run_id = r.stdout.split("started run ", 1)[1].split()[0]
    # --detach waits at most 0.4 s for the lock, so on a loaded machine the run may take it just after
    assert wait_until(lambda: (read_holder(ws.layout.lock_file) or {}).get("run_id") == run_id, timeout=30)
    holder = read_holder(ws.layout.lock_file)
    assert os.getsid(holder["pid"]) != os.getsid(0)  # its own session: the terminal can go
    assert (ws.layout.logs_dir / f"run-{run_id}.log").is_file()
    a = CliRunner().invoke(cli, ["attach", "-C", str(ws.root)])  # in this process: no start-up delay
    assert a.exit_code == 0, a.output
    assert "[sonify] done" in a.output
    assert read_holder(ws.layout.lock_file) is None
    assert {s.state for s in Workspace(ws.root).status()} == {"fresh"}
    logs = avstudio("logs", "-C", ws.root, "extract")
    assert logs.returncode == 0 and f"run {run_id} started" in logs.stdout and "[extract] done in" in logs.stdout
    assert "[sonify]" not in logs.stdout
    assert f"run {run_id} ok" in avstudio("logs", "-C", ws.root, "--run", run_id[:6]).stdout


def test_stop_interrupts_a_detached_run_and_the_next_run_resumes(make_ws, long_clip):
    ws = slow_ws(make_ws, long_clip)
    r = avstudio("run", "-C", ws.root, "--detach")
    assert r.returncode == 0, r.stderr
    run_id = r.stdout.split("started run ", 1)[1].split()[0]
    assert wait_until(lambda: (read_holder(ws.layout.lock_file) or {}).get("run_id") == run_id, timeout=30)
    s = CliRunner().invoke(cli, ["stop", "-C", str(ws.root)])  # in this process: no start-up delay
    assert s.exit_code == 0 and "to stop at the next chunk" in s.output
    assert wait_until(lambda: read_holder(ws.layout.lock_file) is None)
    assert f"run {run_id} interrupted" in avstudio("logs", "-C", ws.root).stdout
    assert "interrupted" in {st.state for st in Workspace(ws.root).status()}
    again = avstudio("run", "-C", ws.root)
    assert again.returncode == 0 and {st.state for st in Workspace(ws.root).status()} == {"fresh"}


def test_a_detached_run_outlives_the_terminal_that_started_it(make_ws, long_clip):
    ws = slow_ws(make_ws, long_clip)
    # a "terminal": a shell in its own session that starts the run, then waits as a login shell would
    shell = subprocess.Popen(["bash", "-c", f"{sys.executable} -m avstudio run -C {ws.root} --detach; sleep 60"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, start_new_session=True)
    assert wait_until(lambda: (read_holder(ws.layout.lock_file) or {}).get("stage") is not None)
    os.killpg(shell.pid, signal.SIGHUP)  # the SSH connection drops
    os.killpg(shell.pid, signal.SIGKILL)
    shell.wait()
    assert read_holder(ws.layout.lock_file) is not None  # still running
    assert wait_until(lambda: read_holder(ws.layout.lock_file) is None, timeout=120)
    assert {s.state for s in Workspace(ws.root).status()} == {"fresh"}


def test_clients_without_a_run_say_so_in_one_line(make_ws, solid_clip):
    ws = make_ws(solid_clip)
    runner = CliRunner()
    for command, code in (("stop", 1), ("attach", 1)):
        r = runner.invoke(cli, [command, "-C", str(ws.root)])
        assert r.exit_code == code and r.output.strip().startswith("error: no run is going on"), r.output
    r = runner.invoke(cli, ["logs", "-C", str(ws.root)])
    assert r.exit_code == 0 and r.output.strip() == f"no runs yet in {ws.root}"
    r = runner.invoke(cli, ["logs", "-C", str(ws.root), "--run", "nope"])
    assert r.exit_code == 1 and "no run 'nope'" in r.output
    r = runner.invoke(cli, ["logs", "-C", str(ws.root), "paint"])
    assert r.exit_code == 1 and "no stage named 'paint'" in r.output
