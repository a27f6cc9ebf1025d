"""`airflow backfill create` over the daily ingests: one run per day of the range, each working on its own day."""

from datetime import UTC, date, datetime, timedelta

from citybrain import airflow_runner
from citybrain.run_dates import run_day


def _sync_dags() -> None:
    """Write every DAG of the project's folder to the metadata DB, as the dag-processor does."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(DagBag(dag_folder=airflow_runner.DEFAULT_DAGS_FOLDER, bundle_name="dags-folder"), "dags-folder", None)


def test_a_backfill_of_two_weeks_runs_each_day_once_with_its_own_day(airflow_home):
    from airflow.models.backfill import _create_backfill
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    _sync_dags()
    # what `airflow backfill create --dag-id ingest_police --from-date 2026-09-01 --to-date 2026-09-14` does
    backfill = _create_backfill(
        dag_id="ingest_police",
        from_date=datetime(2026, 9, 1, tzinfo=UTC),
        to_date=datetime(2026, 9, 14, tzinfo=UTC),
        max_active_runs=10,
        reverse=False,
        dag_run_conf=None,
        triggering_user_name="test",
    )
    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.backfill_id == backfill.id)).all()
        days = sorted(
            run_day({"dag_run": run, "data_interval_start": run.data_interval_start, "triggering_asset_events": {}}) for run in runs
        )
        run_types = {str(getattr(run.run_type, "value", run.run_type)) for run in runs}
    assert run_types == {"backfill"}
    assert days == [date(2026, 9, 1) + timedelta(days=n) for n in range(14)]
