"""What happens when a task fails: a row in ``ops.run_events`` and, when set, an alert webhook.

``on_task_failure`` is the ``on_failure_callback`` of every CityBrain DAG. It writes without
the engine (``deltalake``), because the engine may be the thing that failed, and it never
raises: a broken alert must not hide the task's own failure (its problems are logged).
The webhook (``CITYBRAIN_ALERT_WEBHOOK``) receives the event as JSON in one POST.
"""

from __future__ import annotations

import json
import logging
import urllib.request
import uuid
from datetime import UTC, datetime

from citybrain import lake
from citybrain.settings import Settings

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_S = 5.0


def failure_event(context: dict) -> dict:
    """The ``ops.run_events`` row of a failed task try, from Airflow's callback context."""
    ti = context.get("task_instance") or context.get("ti")
    dag_run = context.get("dag_run")
    error = context.get("exception")
    logical_date = getattr(dag_run, "logical_date", None) or context.get("logical_date")
    return {
        "event_id": uuid.uuid4().hex,
        "event": "task_failed",
        "dag_id": getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None) or "unknown",
        "task_id": getattr(ti, "task_id", None),
        "run_id": getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
        "logical_date": logical_date,
        "error": None
        if error is None
        else f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"[:1000],
        "webhook": None,
        "occurred_at": datetime.now(UTC),
    }


def post_webhook(url: str, event: dict) -> str:
    """POST ``event`` as JSON; returns what happened in a few words (never raises)."""
    body = json.dumps(event, default=str, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as answer:  # noqa: S310 - the operator's own URL
            return f"sent: HTTP {answer.status}"
    except Exception as exc:  # noqa: BLE001 - reported in the event, never raised
        return f"not sent: {type(exc).__name__}: {exc}"[:300]


def record(settings: Settings, event: dict) -> dict:
    """Send ``event`` to the webhook (when one is set) and append it to ``ops.run_events``."""
    if settings.alert_webhook:
        event = {**event, "webhook": post_webhook(settings.alert_webhook, event)}
    lake.append_rows(settings, "ops.run_events", [event])
    return event


def on_task_failure(context: dict) -> None:
    """Airflow's ``on_failure_callback``: record the failure; log, never raise, if that fails."""
    try:
        event = record(Settings.from_env(), failure_event(context))
        log.error(
            "recorded %s of %s.%s in ops.run_events (webhook: %s)", event["event"], event["dag_id"], event["task_id"], event["webhook"]
        )
    except Exception:  # noqa: BLE001 - the task's own failure must stay the story
        log.exception("could not record the task failure in ops.run_events")
