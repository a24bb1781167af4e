"""Rows of a mood import: times of day, the column check and the row fingerprint (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from services.mood.errors import ImportInvalid
from services.mood.service.importer import DAYLIO, DAYLIO_MOODS, RowError, _format, _local_time, fingerprint


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("20:30", time(20, 30)),
        ("8:30 PM", time(20, 30)),
        ("8:30pm", time(20, 30)),
        ("12:05 AM", time(0, 5)),
        ("12:05 PM", time(12, 5)),
        ("07:00:59", time(7, 0, 59)),
    ],
)
def test_daylio_times_of_day(raw, expected):
    assert _local_time(raw) == expected


@pytest.mark.parametrize("raw", ["25:00", "13:00 PM", "0:30 AM", "8:60", "7:00:60", "noon", "", "8.30"])
def test_impossible_times_are_row_errors(raw):
    with pytest.raises(RowError):
        _local_time(raw)


def test_columns_decide_the_format_in_any_order_and_case():
    assert _format(list(reversed([c.upper() for c in DAYLIO])))[0] == "daylio"
    assert _format(["recorded_at", "mood", "intensity"])[0] == "generic"
    for header in (["recorded_at", "mood"], ["recorded_at", "mood", "intensity", "colour"], ["a"]):
        with pytest.raises(ImportInvalid):
            _format(header)


def test_the_daylio_table_runs_evenly_from_awful_to_rad():
    valences = [DAYLIO_MOODS[m][1] for m in ("awful", "bad", "meh", "good", "rad")]
    assert valences == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert DAYLIO_MOODS["meh"][2] < DAYLIO_MOODS["good"][2] < DAYLIO_MOODS["rad"][2]


def test_the_fingerprint_ignores_tag_order_and_sees_every_other_difference():
    when = datetime(2026, 3, 2, 19, 30, tzinfo=UTC)
    entry = {"recorded_at": when, "mood": "good", "tags": ["walk", "tea"], "note": "hi"}
    assert fingerprint(entry) == fingerprint({**entry, "tags": ["tea", "walk"]})
    for change in ({"mood": "low"}, {"note": "hi!"}, {"tags": ["walk"]}, {"recorded_at": when.replace(minute=31)}):
        assert fingerprint(entry) != fingerprint({**entry, **change})
