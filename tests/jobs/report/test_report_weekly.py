"""Which week and which hotline the report covers: ISO weeks by hand, the latest complete week by default."""

from datetime import date

import pytest

from citybrain.jobs.report.weekly import NothingToReport, Week, choose_source, choose_week


def test_iso_weeks_by_hand():
    w = Week.parse("2026-W47")
    assert (w.start, w.end, w.label) == (date(2026, 11, 16), date(2026, 11, 22), "2026-W47")
    assert w.previous.label == "2026-W46" and w.minus(11).label == "2026-W36"
    assert Week.of(date(2026, 11, 22)) == w  # a Sunday belongs to the week of the Monday before
    # 2026 has 53 ISO weeks (1 January 2026 is a Thursday); 1 January 2027 (a Friday) is still in 2026-W53
    assert Week.of(date(2027, 1, 1)).label == "2026-W53"
    assert Week.parse("2027-W01").start == date(2027, 1, 4)
    assert Week.parse("2027-W01").previous.label == "2026-W53"
    assert len(w.days) == 7 and w.days[-1] == w.end


@pytest.mark.parametrize("label", ["2026-47", "2026-W7", "W47", "", "2027-W53"])
def test_bad_week_labels_are_refused(label):
    with pytest.raises(ValueError, match="2026-W35|does not exist"):
        Week.parse(label)


def test_default_week_is_the_latest_complete_one():
    weeks = {"2026-W45": True, "2026-W46": True, "2026-W47": False}  # the data ends mid-week 47
    assert choose_week(weeks).label == "2026-W46"
    assert choose_week(weeks, "2026-W47").label == "2026-W47"  # asked for: allowed, the report says incomplete
    assert choose_week(weeks, "2026-W45").label == "2026-W45"


def test_week_selection_errors_say_what_the_lake_has():
    with pytest.raises(NothingToReport, match="2026-W45 to 2026-W47"):
        choose_week({"2026-W45": True, "2026-W47": True}, "2026-W30")
    with pytest.raises(NothingToReport, match="no complete ISO week"):
        choose_week({"2026-W47": False})
    with pytest.raises(NothingToReport, match="no weeks"):
        choose_week({})


def test_hotline_choice():
    assert choose_source({"demo_12345": 46769}) == "demo_12345"
    assert choose_source({"boston_311": 100, "demo_12345": 46769}) == "demo_12345"  # the larger hotline
    assert choose_source({"b": 5, "a": 5}) == "a"  # ties by name
    assert choose_source({"boston_311": 100, "demo_12345": 46769}, "boston_311") == "boston_311"
    with pytest.raises(NothingToReport, match="no hotline 'x'"):
        choose_source({"demo_12345": 1}, "x")
    with pytest.raises(NothingToReport, match="build it first"):
        choose_source({})
