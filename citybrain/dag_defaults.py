"""What every CityBrain DAG shares: retries with backoff, the failure callback, the engine's pool.

One place, read by every DAG factory in dags/ and by ``citybrain up`` (which creates the pool).
"""

from __future__ import annotations

from datetime import timedelta

from citybrain import run_events

#: the Airflow pool every task that works through the Spark engine runs in
SPARK_POOL = "spark"
#: how many tasks may work through the engine at once (``citybrain up`` sizes the pool with it)
SPARK_POOL_SLOTS = 2
#: first retry after 30 s, then doubling, never more than 10 min apart
RETRIES = 2
RETRY_DELAY = timedelta(seconds=30)
MAX_RETRY_DELAY = timedelta(minutes=10)


def default_args(execution_timeout: timedelta) -> dict:
    """A DAG's ``default_args``: its tasks' time limit, retries with exponential backoff,
    and ``ops.run_events`` (plus the alert webhook) on every failed try."""
    return {
        "retries": RETRIES,
        "retry_delay": RETRY_DELAY,
        "retry_exponential_backoff": True,
        "max_retry_delay": MAX_RETRY_DELAY,
        "execution_timeout": execution_timeout,
        "on_failure_callback": run_events.on_task_failure,
    }
