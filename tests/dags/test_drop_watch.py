"""The drop-folder watcher fires when a drop arrives and has stopped growing, never for what was there before."""

import asyncio

import pytest


@pytest.fixture
def watch(airflow_home):
    """citybrain.drop_watch, imported once Airflow is configured for the tests (it imports Airflow)."""
    from citybrain import drop_watch

    return drop_watch


def test_a_file_fires_once_it_keeps_its_size_for_one_poll(watch):
    arrived = watch.arrived
    before = {"old.csv": (10, 1)}
    growing = {"old.csv": (10, 1), "new.csv": (5, 2)}
    assert arrived(before, before, growing) == []  # just appeared: may still be copied
    done = {"old.csv": (10, 1), "new.csv": (9, 3)}
    assert arrived(before, growing, done) == []  # still growing
    assert arrived(before, done, done) == ["new.csv"]
    changed = {"old.csv": (11, 4), "new.csv": (9, 3)}
    assert arrived(before, changed, changed) == ["new.csv", "old.csv"]  # a re-sent file counts as arrived
    assert arrived(before, before, before) == []


def test_the_trigger_reports_a_new_drop_and_not_the_files_already_there(tmp_path, watch):
    DropArrivalTrigger = watch.DropArrivalTrigger  # noqa: N806 - the class
    (tmp_path / "hotline_20260901.csv").write_text("already here\n")
    (tmp_path / "notes.txt").write_text("not a drop\n")
    trigger = DropArrivalTrigger(folder=str(tmp_path), pattern="hotline_*.csv", poke_interval=0.05)

    async def watch():
        events = trigger.run()
        first = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.2)
        assert not first.done()  # nothing new yet
        (tmp_path / "police_20260902.json").write_text("{}")  # another source's pattern
        (tmp_path / "hotline_20260902.csv").write_text("id\n1\n")
        return await asyncio.wait_for(first, timeout=5)

    event = asyncio.run(watch())
    assert event.payload == {"folder": str(tmp_path), "files": ["hotline_20260902.csv"]}
    classpath, kwargs = trigger.serialize()
    assert classpath == "citybrain.drop_watch.DropArrivalTrigger"
    assert DropArrivalTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_a_folder_that_does_not_exist_yet_is_watched_without_failing(tmp_path, watch):
    DropArrivalTrigger = watch.DropArrivalTrigger  # noqa: N806 - the class
    folder = tmp_path / "not_yet"
    trigger = DropArrivalTrigger(folder=str(folder), pattern="*.csv", poke_interval=0.05)

    async def watch():
        events = trigger.run()
        first = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.15)
        folder.mkdir()
        (folder / "a_20260901.csv").write_text("x\n")
        return await asyncio.wait_for(first, timeout=5)

    assert asyncio.run(watch()).payload["files"] == ["a_20260901.csv"]
