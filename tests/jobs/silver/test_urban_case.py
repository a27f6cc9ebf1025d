"""Cases are rebuilt from their events: timeline, stage durations, rework, status."""

from datetime import datetime

from citybrain.jobs.silver.urban_case import derive_cases

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
