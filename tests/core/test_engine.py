"""The embedded engine starts once, is reused, answers, fails fast when it dies, and leaves no process behind."""

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref

import pytest

from citybrain import engine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_start_reuse_stop_leaves_no_process(settings, tmp_path):
    own = settings.with_(state_dir=tmp_path / "state")
    info, started = engine.start(own)
    try:
        assert started
        assert info.host == "127.0.0.1"
        assert _alive(info.pid)
        again, started_again = engine.start(own)
        assert (again, started_again) == (info, False)
        assert engine.status(own) == info
        assert json.loads((own.state_dir / "engine.json").read_text())["log"] == info.log
        assert open(info.log).read().count("listening on 127.0.0.1") == 1
    finally:
        assert engine.stop(own)
    assert not _alive(info.pid)
    assert engine.status(own) is None
    assert not engine.stop(own)


def test_session_scope_stops_what_it_started(settings, tmp_path):
    own = settings.with_(state_dir=tmp_path / "state")
    with engine.session_scope(own) as spark:
        assert spark.range(10).selectExpr("sum(id)").first()[0] == 45
        pid = engine.status(own).pid
    assert not _alive(pid)


def test_stale_state_file_is_ignored(settings, tmp_path):
    own = settings.with_(state_dir=tmp_path / "state")
    own.state_dir.mkdir(parents=True)
    (own.state_dir / "engine.json").write_text('{"pid": 999999, "host": "127.0.0.1", "port": 1, "log": "x"}')
    assert engine.status(own) is None
    assert not (own.state_dir / "engine.json").exists()


def test_dead_server_fails_fast():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(engine.EngineError, match="does not answer"):
        engine.check_healthy(f"sc://127.0.0.1:{port}")


# starts an engine in <state dir> (argv[1]); with "owned" (argv[2]) one for this process, which then waits
_STARTER = """
import json, os, sys, time
from citybrain import engine
from citybrain.settings import Settings
settings = Settings.from_env().with_(state_dir=__import__("pathlib").Path(sys.argv[1]))
owned = sys.argv[2:] == ["owned"]
info, started = engine.start(settings, owner_pid=os.getpid() if owned else None)
print(json.dumps({"pid": info.pid, "started": started, "log": info.log}), flush=True)
if owned:
    time.sleep(600)
"""


def test_concurrent_starters_start_exactly_one_engine(tmp_path):
    state = tmp_path / "state"
    env = {**os.environ, "CITYBRAIN_ENGINE_PORT": "0"}
    starters = [
        subprocess.Popen([sys.executable, "-c", _STARTER, str(state)], stdout=subprocess.PIPE, text=True, env=env) for _ in range(4)
    ]
    answers = [json.loads(p.communicate(timeout=120)[0]) for p in starters]
    pids = {a["pid"] for a in answers}
    try:
        assert len(pids) == 1, answers
        assert sum(a["started"] for a in answers) == 1, answers
        assert len(list((state / "logs").glob("sail-*.log"))) == 1
    finally:
        for pid in pids:
            engine._terminate(pid)


def test_an_engine_started_for_a_process_stops_once_that_process_is_gone(tmp_path):
    """A test run that its hang watchdog ends cannot stop its engine: the engine stops by itself."""
    env = {**os.environ, "CITYBRAIN_ENGINE_PORT": "0"}
    starter = subprocess.Popen(
        [sys.executable, "-c", _STARTER, str(tmp_path / "state"), "owned"], stdout=subprocess.PIPE, text=True, env=env
    )
    info = json.loads(starter.stdout.readline())
    try:
        assert _alive(info["pid"])
        starter.kill()
        starter.wait()
        deadline = time.monotonic() + 15
        while _alive(info["pid"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(info["pid"])
        assert f"process {starter.pid}, which this server was started for, is gone" in open(info["log"]).read()
    finally:
        starter.stdout.close()
        engine._terminate(info["pid"])


def test_each_engine_writes_its_own_log(settings, tmp_path):
    own = settings.with_(state_dir=tmp_path / "state")
    logs = []
    for _ in range(2):
        info, started = engine.start(own)
        assert started
        logs.append(info.log)
        engine.stop(own)
    assert len(set(logs)) == 2
    assert all(open(log).read().count("listening on 127.0.0.1") == 1 for log in logs)


def test_without_an_engine_a_session_is_refused_not_started(settings, tmp_path):
    own = settings.with_(state_dir=tmp_path / "state", spark_remote="")
    with pytest.raises(engine.EngineError, match="no Spark Connect engine is running .*citybrain engine start"):
        engine.get_session(own)
    assert engine.status(own) is None
    assert not (own.state_dir / "engine.json").exists()


def _within(seconds: float, call) -> BaseException | None:
    """Run ``call`` in a thread; the exception it raised, or a failure when it is still running after ``seconds``."""
    outcome: list = []

    def run():
        try:
            call()
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            outcome.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds:.0f} s"
    return outcome[0]


def test_a_killed_engine_fails_the_next_call_within_seconds(settings, tmp_path):
    own = settings.with_(state_dir=tmp_path / "state")
    info, _ = engine.start(own)
    try:
        spark = engine.get_session(own, new=True)
        assert spark.range(3).count() == 3
        os.kill(info.pid, signal.SIGKILL)
        error = _within(45, lambda: spark.range(5).count())  # Spark Connect's own retries last about 10 min
        assert error is not None and not isinstance(error, engine.EngineError)
        assert _within(15, lambda: engine.stop_session(spark)) is None
        with pytest.raises(engine.EngineError, match="no Spark Connect engine is running"):
            engine.remote_url(own, wait_s=0.5)
    finally:
        engine.stop(own)
    assert not _alive(info.pid)


def test_stopping_a_session_is_bounded():
    class Hangs:
        def stop(self):
            threading.Event().wait()

    assert _within(5, lambda: engine.stop_session(Hangs(), timeout_s=0.5)) is None


def test_a_command_whose_engine_died_fails_in_one_line_naming_it_and_its_log(settings, tmp_path):
    own = settings.with_(state_dir=tmp_path / "state")
    with pytest.raises(engine.EngineError) as failure:
        with engine.command_engine(own):
            info = engine.status(own)
            os.kill(info.pid, signal.SIGKILL)
            os.waitpid(info.pid, 0)  # the engine is gone before the call that fails on it
            raise RuntimeError("a call failed")
    message = str(failure.value)
    assert "\n" not in message
    assert f"pid {info.pid}" in message and info.log in message and "stopped answering" in message
    assert not _alive(info.pid)
    assert not (own.state_dir / "engine.json").exists()


def test_a_failure_with_a_live_engine_keeps_its_own_error(settings, tmp_path):
    own = settings.with_(state_dir=tmp_path / "state")
    with pytest.raises(RuntimeError, match="a call failed"):
        with engine.command_engine(own):
            pid = engine.status(own).pid
            raise RuntimeError("a call failed")
    assert not _alive(pid)


def test_a_dropped_session_is_closed_without_waiting_for_release_calls_in_flight(spark, settings):
    """Closing a session must not wait for Spark Connect's process-wide pool of release calls: the
    garbage collector may finalize a dropped session inside one of that pool's threads while it holds
    a channel's lock, and a close that waits for the pool then hangs every later call on the channel
    (engine._release_pool_shutdown_without_waiting; a CI run did). Here the session is finalized in
    a thread of its own, so a close that waits is seen waiting whatever order it joins the pool in."""
    from concurrent.futures import ThreadPoolExecutor

    from pyspark.sql.connect.client.reattach import ExecutePlanResponseReattachableIterator as Reattachable

    gc.disable()  # the session is finalized in the thread below, not wherever a collection happens first
    in_call = threading.Event()
    try:
        with Reattachable._lock:
            Reattachable._release_thread_pool_instance = pool = ThreadPoolExecutor(max_workers=1)
        pool.submit(in_call.wait)  # a release call still in flight
        session = engine.get_session(settings, new=True)
        engine._make_active(spark)  # as fresh_session does after a task: the new session is nobody's default
        finalized = weakref.ref(session)
        dropped = [session, None]
        dropped[1] = dropped  # a cycle: only the collector frees it, as it did the tests' sessions
        del session, dropped
        assert finalized() is not None
        collector = threading.Thread(target=gc.collect, daemon=True)
        collector.start()
        collector.join(15)
        assert not collector.is_alive(), "closing the dropped session waited for a release call of another session"
        assert finalized() is None
    finally:
        in_call.set()
        gc.enable()
    assert spark.range(3).count() == 3


def test_sessions_do_not_record_the_caller_of_every_dataframe_call(spark, monkeypatch):
    """PySpark walks the stack for every DataFrame and Column call to quote the caller in a server
    error, 0.1-0.15 s of a small refine: the sessions made here turn it off (engine._without_call_sites)."""
    from pyspark.errors import utils
    from pyspark.sql import functions as F

    assert spark.conf.get(engine.CALL_SITES_CONF) == "false"
    captured = []
    monkeypatch.setattr(utils, "_enable_debugging_cache", None)  # read again from the active session, as a new process does
    monkeypatch.setattr(utils, "_capture_call_site", lambda depth: captured.append(depth) or "")
    engine._make_active(spark)
    assert spark.range(3).withColumn("x", F.col("id") + 1).where(F.col("x") > 1).count() == 2
    assert captured == []


def test_queries_on_this_machine_stream_their_results_without_reattachable_execution(spark, monkeypatch):
    """Reattachable execution costs a release call per query (2-4 ms of every 4-8 ms query here):
    sessions on a loopback engine stream results plainly (engine.reattachable)."""
    from pyspark.sql.connect.client.reattach import ExecutePlanResponseReattachableIterator as Reattachable

    made = []
    original = Reattachable.__init__
    monkeypatch.setattr(Reattachable, "__init__", lambda self, *a, **k: made.append(1) or original(self, *a, **k))
    assert spark.range(5).count() == 5
    assert spark.range(3).toArrow().num_rows == 3
    assert made == []


# a session on an engine of its own (state dir argv[1]), a query, then the engine goes away (stopped
# by another process: killed here) and this process exits
_SESSION_OUTLIVES_ITS_ENGINE = """
import os, signal, sys, time
from citybrain import engine
from citybrain.settings import Settings
settings = Settings.from_env().with_(state_dir=__import__("pathlib").Path(sys.argv[1]))
info, _ = engine.start(settings)
print(engine.get_session(settings).range(3).count(), flush=True)
os.kill(info.pid, signal.SIGKILL)
while engine.pid_alive(info.pid):
    time.sleep(0.1)
"""


def test_a_process_whose_engine_went_away_first_exits_without_a_traceback(tmp_path):
    """An engine may be gone before a process that used it ends (another process stopped it): nothing
    may then try the engine again at exit and print a gRPC traceback (the exit hook of
    pyspark-client's ML cache, dropped by engine._without_ml_cache_cleanup_at_exit). Spark Connect's
    own log is on, as an engineer who investigates the engine turns it on: it is where that traceback went."""
    env = {**os.environ, "CITYBRAIN_ENGINE_PORT": "0", "SPARK_CONNECT_LOG_LEVEL": "error"}
    done = subprocess.run(
        [sys.executable, "-c", _SESSION_OUTLIVES_ITS_ENGINE, str(tmp_path / "state")], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.returncode == 0 and done.stdout.strip() == "3", done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "GRPC Error" not in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("sc://127.0.0.1:15002", False),
        ("sc://localhost:50051/;user_id=citybrain", False),
        ("sc://[::1]:15002", False),
        ("sc://127.0.0.2:15002", False),
        ("sc://10.0.0.7:15002", True),
        ("sc://spark-connect.city.internal:15002", True),
    ],
)
def test_only_a_remote_engine_keeps_reattachable_execution(remote, expected):
    assert engine.reattachable(remote) is expected


def test_a_server_that_refuses_the_call_site_setting_still_gives_a_session():
    class Refusing:
        def set(self, key, value):
            raise RuntimeError(f"cannot modify the value of the static config: {key}")

    class Session:
        conf = Refusing()

    engine._without_call_sites(Session())  # logged, not raised


def test_an_engine_loads_what_the_python_udfs_import_before_the_first_one_runs(settings, tmp_path):
    """Sail runs a Python UDF in the engine's own interpreter; its modules are imported once the
    server answers (engine._preload_udf_modules), not by the first refine that places a point."""
    import json

    import pyarrow as pa

    own = settings.with_(state_dir=tmp_path / "state", spark_remote="")
    info, started = engine.start(own)
    assert started
    try:
        deadline = time.monotonic() + 60
        while "modules of the Python UDFs preloaded" not in open(info.log).read():
            assert time.monotonic() < deadline, open(info.log).read()
            time.sleep(0.2)
        assert "not preloaded" not in open(info.log).read()
        wanted = list(engine.UDF_MODULES)

        def loaded(batches):  # nested: pickled by value, so the engine imports nothing of the tests
            import sys

            for batch in batches:
                yield pa.RecordBatch.from_pydict({"loaded": [json.dumps([m in sys.modules for m in wanted])] * batch.num_rows})

        session = engine.get_session(own, new=True)
        try:
            row = session.range(1).mapInArrow(loaded, "loaded string").collect()[0]
        finally:
            engine.stop_session(session)
        assert dict(zip(wanted, json.loads(row.loaded), strict=True)) == dict.fromkeys(wanted, True)
    finally:
        engine.stop(own)


def test_a_session_the_engine_dropped_for_idleness_is_replaced_on_the_next_hand_out(settings, tmp_path):
    """Sail drops a session idle for its timeout; get_session then hands out a new one, not the dead one."""
    own = settings.with_(state_dir=tmp_path / "state")
    info, _ = engine.start(own, idle_session_s=2)
    try:
        assert "idle sessions dropped after 2 s" in open(info.log).read()
        first = engine.get_session(own)
        assert engine.get_session(own) is first  # still held: shared, not replaced
        time.sleep(6)
        with pytest.raises(Exception, match="is not running"):
            first.range(3).count()
        second = engine.get_session(own)
        assert second is not first
        assert second.range(3).count() == 3
    finally:
        engine.stop(own)


def test_the_test_runs_engine_keeps_an_idle_session_for_the_whole_run(spark, settings):
    """The run's one session must outlive the end-to-end tests that leave it idle (Sail's default is 15 min)."""
    from tests_support import TEST_RUN_IDLE_SESSION_S

    if settings.spark_remote:
        pytest.skip("the run uses a given Spark Connect server, which keeps its own session timeout")
    assert TEST_RUN_IDLE_SESSION_S >= 4 * engine.SAIL_IDLE_SESSION_S
    log = open(engine.status(settings).log).read()
    assert f"idle sessions dropped after {TEST_RUN_IDLE_SESSION_S} s" in log
