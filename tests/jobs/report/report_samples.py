"""A small, hand-made numbers document with every section, for rendering tests that need no lake."""

from __future__ import annotations

import h3

from citybrain.jobs.report.publish import ReportBuild

CENTRE = h3.latlng_to_cell(32.05, 118.78, 8)
RATES = ("timely_acceptance_rate", "on_time_completion_rate", "satisfaction_rate")


def sample_document() -> dict:
    cells = sorted(h3.grid_disk(CENTRE, 2))
    history = [
        {"iso_week": f"2026-W{w}", "received": 3900 + 20 * i, **dict(zip(RATES, (0.99, 0.95 + i / 1000, 0.96), strict=True))}
        for i, w in enumerate(range(40, 48))
    ]
    metrics = [
        {"metric": "received", "kind": "count", "value": 4040, "previous": 4020},
        {"metric": "timely_acceptance_rate", "kind": "rate", "value": 0.99, "previous": 0.99},
        {"metric": "on_time_completion_rate", "kind": "rate", "value": 0.957, "previous": 0.956},
        {"metric": "satisfaction_rate", "kind": "rate", "value": 0.96, "previous": 0.96},
        {"metric": "urban_cases", "kind": "count", "value": 944, "previous": 947},
        {"metric": "police_incidents", "kind": "count", "value": 1814, "previous": 1778},
        {"metric": "petitions", "kind": "count", "value": 143, "previous": 134},
    ]
    alert = {
        "h3_cell": CENTRE,
        "street": "松涛街道",
        "category": "噪声扰民",
        "category_l1": "城市管理",
        "complaints": 16,
        "expected": 7.4,
        "confidence": 99,
        "window_weeks": 1,
        "trend": "new",
        "is_new": True,
        "top_subcategories": "噪声扰民 16 (7.4)",
        "example_text": "来电人反映夜间施工噪声扰民。",
    }
    streets = [
        {
            "unit_code": f"s{i}",
            "unit_name": name,
            "rank": i + 1,
            "units_ranked": 4,
            "previous_rank": None,
            "rank_change": change,
            "composite_score": score,
        }
        for i, (name, change, score) in enumerate(
            (("锦绣街道", 0, 99.0), ("长乐街道", 6, 98.9), ("望江街道", -9, 96.3), ("湖滨街道", 0, 89.5))
        )
    ]
    return {
        "iso_week": "2026-W47",
        "week_start": "2026-11-16",
        "week_end": "2026-11-22",
        "week_complete": True,
        "source_system": "demo_12345",
        "sections": {
            "headline": {"metrics": metrics, "history": history},
            "hotspots": {
                "resolution": 8,
                "alerts": 1,
                "new_alerts": 1,
                "intensifying": 1,
                "alerts_last_week": 0,
                "alerts_by_group": [["城市管理", 1]],
                "top": [alert],
                "cells": [[c, 16 if c == CENTRE else i % 5, 0, "松涛街道" if i % 2 else "湖滨街道"] for i, c in enumerate(cells)],
            },
            "performance": {
                "units_ranked": 4,
                "streets": streets,
                "best": streets[:1],
                "worst": streets[-1:],
                "movers_up": [streets[1]],
                "movers_down": [streets[2]],
            },
            "scorecard": {
                "month": "2026-11",
                "month_complete": False,
                "previous_month": "2026-10",
                "city": {"on_time_closure_rate": 0.894, "closure_rate": 0.977, "rework_rate": 0.011},
                "city_previous": {"on_time_closure_rate": 0.888},
                "streets": [
                    {
                        "unit_code": "s3",
                        "unit_name": "龙山街道",
                        "on_time_closure_rate": 0.835,
                        "reported": 89,
                        "overdue_open_at_period_end": 3,
                    },
                    {
                        "unit_code": "s1",
                        "unit_name": "金沙街道",
                        "on_time_closure_rate": 0.932,
                        "reported": 60,
                        "overdue_open_at_period_end": 1,
                    },
                ],
            },
            "stability": {
                "communities_scored": 106,
                "insufficient": 1,
                "levels": {"red": 1, "orange": 1, "yellow": 4, "blue": 100},
                "red_list": [
                    {
                        "unit_type": "community",
                        "unit_code": "329903001005",
                        "unit_name": "华坊社区",
                        "street_name": "松涛街道",
                        "district_name": "南塘区",
                        "status": "scored",
                        "score": 80.5,
                        "level": "极高",
                        "level_color": "red",
                        "score_change": 12.3,
                        "rank_in_week": 1,
                        "top1_indicator": "collective_petitions_per_10k",
                        "top1_contribution": 16.2,
                        "top2_indicator": "skip_level_petitions_per_10k",
                        "top2_contribution": 15.2,
                        "top3_indicator": "repeat_petitions_per_10k",
                        "top3_contribution": 11.6,
                        "warning_probability": 0.41,
                    },
                    {
                        "unit_type": "community",
                        "unit_code": "329904002005",
                        "unit_name": "华苑社区",
                        "street_name": "湖滨街道",
                        "district_name": "北山区",
                        "status": "scored",
                        "score": 54.7,
                        "level": "高",
                        "level_color": "orange",
                        "score_change": -2.0,
                        "rank_in_week": 2,
                        "top1_indicator": "dispute_incidents_per_10k",
                        "top1_contribution": 8.0,
                        "top2_indicator": "petition_surge",
                        "top2_contribution": 7.5,
                        "top3_indicator": None,
                        "top3_contribution": 0.0,
                        "warning_probability": None,
                    },
                ],
                "red_list_is_alert": True,
                "risers": [],
                "streets": [],
            },  # fmt: skip
            "demand": {
                "orders": 56_000,
                "orders_previous": 50_000,
                "cancel_share": 0.15,
                "by_hour": [2000 + 50 * h for h in range(24)],
                "by_hour_previous": [1800 + 50 * h for h in range(24)],
                "busiest_cell": "883091560bfffff",
                "busiest_cell_orders": 1234,
                "anomalies": [{"h3_cell": "8830915653fffff", "local_hour": "2026-11-20 22:00", "actual": 41, "forecast": 3.2}],
                "anomaly_count": 1,
            },
            "data_quality": {
                "quarantined_rows": 12,
                "quarantine": [
                    {
                        "source": "police",
                        "entity": "police_incident",
                        "rule": "located",
                        "reason": "the record could not be placed on the city's grid",
                        "rows": 12,
                    }
                ],
                "drops": [
                    {
                        "source": "hotline",
                        "expected_days": 7,
                        "received_days": 6,
                        "missing": ["2026-11-18"],
                        "late": ["2026-11-19"],
                        "max_lag_hours": 50.0,
                        "days": {f"2026-11-{d}": "missing" if d == 18 else "late" if d == 19 else "on_time" for d in range(16, 23)},
                    }
                ],
                "batches": {"refined": 1, "unbalanced": 0},
                "failed_checks": [],
            },
        },
    }


def sample_build(lang: str = "zh") -> ReportBuild:
    from pathlib import Path

    document = sample_document()
    return ReportBuild(
        build_id=f"2026-W47-{lang}-sample",
        iso_week=document["iso_week"],
        language=lang,
        source_system=document["source_system"],
        html_path=Path(),
        pdf_path=None,
        numbers_path=Path(),
        numbers_sha256="0" * 64,
        table_versions={"gold.hotline_performance": 2},
        sections=list(document["sections"]),
    )
