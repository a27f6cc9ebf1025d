"""The embedded engine starts, is reused, answers, and leaves no process behind."""

import os
import socket

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
        assert (own.log_dir / "sail.log").read_text().count("listening on 127.0.0.1") == 1
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
