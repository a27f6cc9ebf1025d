"""Ingest on file arrival: a trigger that watches a department's drop folder.

``DropArrivalTrigger`` is an Airflow event trigger (``BaseEventTrigger``, run by the
triggerer as an ``AssetWatcher`` of the Asset ``drops.<source>``): it lists the folder every
``poke_interval`` seconds and fires once a file matching the source's pattern appears or
changes and has kept the same size for one poll (a file still being copied does not fire).
The ingest DAG is scheduled on that Asset as well as daily, so a drop is taken in within
a poll of its arrival; the daily run catches anything that arrived while the triggerer
was down (the trigger only reports what changes after it starts). It reads nothing and
deletes nothing: the ingest decides what is new by checksum. Needs no extra provider.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

#: seconds between two listings of a drop folder
POKE_INTERVAL_S = 60.0


def drop_folder(settings, source: str) -> Path:
    """Where ``source``'s department drops its files (``<demo_dir>/drops/<source>``)."""
    return Path(settings.demo_dir) / "drops" / source


def listing(folder: str, pattern: str) -> dict[str, tuple[int, int]]:
    """{file name: (size, modification time in ns)} of the regular files in ``folder`` matching ``pattern``."""
    found = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:  # no folder yet: nothing has arrived
        return found
    for entry in entries:
        if fnmatch.fnmatch(entry.name, pattern) and entry.is_file(follow_symlinks=False):
            stat = entry.stat(follow_symlinks=False)
            found[entry.name] = (stat.st_size, stat.st_mtime_ns)
    return found


def arrived(before: dict, previous: dict, now: dict) -> list[str]:
    """Files new or changed since ``before`` whose size did not change between the last two listings."""
    return sorted(name for name, seen in now.items() if seen != before.get(name) and previous.get(name, (None,))[0] == seen[0])


class DropArrivalTrigger(BaseEventTrigger):
    """Fires once when a drop file arrives in ``folder`` (see the module's doc)."""

    def __init__(self, folder: str, pattern: str, poke_interval: float = POKE_INTERVAL_S, **kwargs):
        super().__init__()
        self.folder, self.pattern, self.poke_interval = str(folder), pattern, float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{__name__}.DropArrivalTrigger", {"folder": self.folder, "pattern": self.pattern, "poke_interval": self.poke_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        before = previous = listing(self.folder, self.pattern)
        while True:
            await asyncio.sleep(self.poke_interval)
            now = listing(self.folder, self.pattern)
            files = arrived(before, previous, now)
            if files:
                self.log.info("%d drop file(s) arrived in %s: %s", len(files), self.folder, ", ".join(files))
                yield TriggerEvent({"folder": self.folder, "files": files})
                return
            previous = now
