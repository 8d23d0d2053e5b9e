"""Events round-trip through the JSON-lines log, and a follower sees only complete lines."""

from avstudio.pipeline.eventlog import EventLogFollower, EventLogWriter, last_run_events
from avstudio.pipeline.events import Progress, RunStarted, StageFailed, event_from_dict


def test_round_trip_and_follow(tmp_path):
    path = tmp_path / "events.jsonl"
    writer = EventLogWriter(path)
    follower = EventLogFollower(path)
    writer.write(RunStarted(run_id="r1", pid=7, plan=["extract"]))
    writer.write(Progress(run_id="r1", stage="extract", done=10, total=20, rate=5.0))
    got = list(follower.poll())
    assert [e.kind for e in got] == ["run_started", "progress"]
    assert got[1].done == 10 and got[1].total == 20 and got[1].stage == "extract"
    with open(path, "a") as f:
        f.write('{"event": "log", "stage": "extract", "mess')  # half-written line
    assert list(follower.poll()) == []
    with open(path, "a") as f:
        f.write('age": "hi"}\n')
    (log,) = follower.poll()
    assert log.message == "hi"
    writer.write(RunStarted(run_id="r2", pid=8))
    writer.write(StageFailed(run_id="r2", stage="features", message="bad", interrupted=True))
    writer.close()
    last = last_run_events(path)
    assert [e.run_id for e in last] == ["r2", "r2"] and last[1].interrupted is True


def test_event_from_dict_ignores_unknown_fields():
    e = event_from_dict({"event": "progress", "stage": "x", "done": 3, "future_field": 1})
    assert e.stage == "x" and e.done == 3
