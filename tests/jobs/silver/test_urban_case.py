"""Cases are rebuilt from their events: timeline, stage durations, rework, status."""

from datetime import datetime

from citybrain import lake
from citybrain.jobs.silver import urban_case
from citybrain.jobs.silver.urban_case import derive_cases
from citybrain.schemas import get_contract

LOC = ("G1", "C1", "S1", "D1", "h7", "h8", "h9", 118.7, 32.0, "point", None)
COLUMNS = (
    "case_no string, event_code string, event_at timestamp, deadline timestamp, is_urgent boolean, is_overdue boolean, "
    "source string, category string, major_type string, minor_type string, handler_unit string, "
    "grid_code string, community_code string, street_code string, district_code string, h3_r7 string, h3_r8 string, h3_r9 string, "
    "located_lon double, located_lat double, location_method string, location_issue string"
)


def _event(case, code, hour, *, handler=None, deadline=None, overdue=False, source="监督员上报"):
    return (case, code, datetime(2026, 9, 1, hour), deadline, False, overdue, source, "事件", "街面秩序", "占道经营", handler, *LOC)


def test_timeline_and_durations(spark):
    events = [
        _event("A", "reported", 8),
        _event("A", "filed", 9, deadline=datetime(2026, 9, 1, 20)),
        _event("A", "dispatched", 10, handler="城管中队"),
        _event("A", "handled", 12, handler="城管中队"),
        _event("A", "rework", 13),
        _event("A", "handled", 15),
        _event("A", "checked", 16),
        _event("A", "closed", 21),  # closed after the deadline, but handled before it: on time
        _event("B", "reported", 8, source="公众举报(微信)"),
        _event("B", "voided", 9),
        _event("C", "reported", 8),
        _event("C", "filed", 9, deadline=datetime(2026, 9, 1, 10)),
        _event("C", "dispatched", 11),
    ]
    cases = {r.case_no: r for r in derive_cases(spark.createDataFrame(events, COLUMNS)).collect()}
    a = cases["A"]
    assert (a.status, a.rework_count, a.events, a.handler_unit) == ("closed", 1, 8, "城管中队")
    assert (a.minutes_to_file, a.minutes_to_dispatch, a.minutes_to_handle, a.minutes_to_close) == (60, 60, 300, 780)
    assert a.is_overdue is False and a.handled_at == datetime(2026, 9, 1, 15)
    assert (cases["B"].status, cases["B"].voided, cases["B"].is_citizen_report) == ("voided", True, True)
    assert cases["C"].status == "dispatched" and cases["C"].minutes_to_close is None
    assert cases["C"].is_overdue is True  # not handled, and its latest event is past the deadline
    assert str(a.dt) == "2026-09-01"


def _stored_event(case, seq, code, at):
    """A silver.urban_case_event row as the refine writes it (its day: the local date of event_at)."""
    from datetime import timedelta

    row = dict.fromkeys(get_contract("silver.urban_case_event").column_names)
    local_day = (at + timedelta(hours=8)).date()  # Asia/Shanghai
    return row | {
        "case_no": case,
        "event_seq": seq,
        "event_code": code,
        "event_at": at,
        "case_event_id": f"{case}:{seq}",
        "source": "监督员上报",
        "_batch_id": "b",
        "_source_file": f"urban_cases/{case}-{seq}.csv",
        "_source_row": seq,
        "_refined_at": at,
        "dt": local_day,
    }


def _add_events(spark, settings, rows):
    contract = get_contract("silver.urban_case_event")
    df = spark.createDataFrame([tuple(r.values()) for r in rows], contract.ddl().replace(" NOT NULL", ""))
    lake.merge(spark, settings, contract.name, df)
    return df


def test_a_case_rebuilt_by_day_matches_a_rebuild_from_every_event(spark, lake_settings):
    """silver.urban_case is rebuilt from the days that hold a touched case's events and merged into
    the days that hold the case: a late "reported" event of an earlier day moves the case to that
    day (one row, not two), and events of days the new batch does not touch still count."""
    first = [
        _stored_event("A", 2, "filed", datetime(2026, 9, 2, 2)),  # 10:00 on 2 September in Shanghai
        _stored_event("A", 3, "dispatched", datetime(2026, 9, 3, 2)),
        _stored_event("B", 1, "reported", datetime(2026, 9, 1, 2)),
        _stored_event("B", 2, "filed", datetime(2026, 9, 4, 2)),
        _stored_event("C", 1, "reported", datetime(2026, 9, 5, 2)),
    ]
    urban_case.run(spark, lake_settings, _add_events(spark, lake_settings, first).select("case_no", "dt"))
    assert {(r.case_no, str(r.dt)) for r in lake.read(spark, lake_settings, "silver.urban_case").collect()} == {
        ("A", "2026-09-02"),
        ("B", "2026-09-01"),
        ("C", "2026-09-05"),
    }
    later = [
        _stored_event("A", 1, "reported", datetime(2026, 8, 31, 23)),  # late, and of an earlier day
        _stored_event("B", 3, "handled", datetime(2026, 9, 6, 2)),  # B's other events are on days 1 and 4
    ]
    urban_case.run(spark, lake_settings, _add_events(spark, lake_settings, later).select("case_no", "dt"))
    cases = sorted(lake.read(spark, lake_settings, "silver.urban_case").drop("_refined_at").collect())
    truth = sorted(derive_cases(lake.read(spark, lake_settings, "silver.urban_case_event")).collect())
    assert cases == truth
    assert [(r.case_no, str(r.dt), r.events) for r in cases] == [("A", "2026-09-01", 3), ("B", "2026-09-01", 3), ("C", "2026-09-05", 1)]
