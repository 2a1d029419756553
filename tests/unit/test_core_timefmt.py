"""core/timefmt.py: every stamp planguard writes reads back as the instant it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from planguard.core import timefmt

INSTANTS = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                        timezones=st.just(UTC))


def test_the_three_precisions() -> None:
    t = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert timefmt.seconds(t) == "2026-01-02T03:04:05Z"
    assert timefmt.millis(t.timestamp()) == "2026-01-02T03:04:05.678Z"
    assert timefmt.micro(t) == "2026-01-02T03:04:05.678901Z"


def test_another_offset_is_written_in_utc() -> None:
    t = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert timefmt.seconds(t) == "2026-01-02T03:04:05Z"


def test_a_stamp_without_offset_is_utc_and_a_number_is_epoch_seconds() -> None:
    assert timefmt.parse("2026-01-02T03:04:05") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert timefmt.epoch(12.5) == 12.5
    assert timefmt.epoch(12) == 12.0
    assert timefmt.epoch("1970-01-01T00:00:10+00:00") == 10.0


@given(INSTANTS)
def test_round_trips(t: datetime) -> None:
    assert timefmt.parse(timefmt.micro(t)) == t
    assert timefmt.parse(timefmt.seconds(t)) == t.replace(microsecond=0)
    assert abs(timefmt.epoch(timefmt.millis(t.timestamp())) - t.timestamp()) < 0.001
