"""Advisory file locks (``fcntl.flock``) that serialise work between processes of one machine.

Used where a check and the action it decides must not interleave with another caller's:
the engine's check -> start -> wait, an ingest's ledger check -> bronze and ledger commits.
A lock is released when its holder exits, even by SIGKILL, so a crashed run never leaves
one behind. They hold on one machine only (the local and CI profiles, and ``citybrain up``);
workers on several machines need Airflow's per-DAG limits or a conditional commit instead.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created with its folder when missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def lock_path(settings, name: str) -> Path:
    """The lock file of ``name`` under the state folder (``<state_dir>/locks/<name>.lock``)."""
    return settings.state_dir / "locks" / f"{name}.lock"
