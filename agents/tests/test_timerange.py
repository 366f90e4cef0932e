"""Time ranges: phrases to expressions, and expressions to start/end in a timezone, at fixed instants
around DST changes and month, quarter and year boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agents.timerange import find, is_expression, resolve, window_of

BERLIN = "Europe/Berlin"  # DST: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00
KOLKATA = ZoneInfo("Asia/Kolkata")


def elapsed(start: datetime, end: datetime) -> timedelta:
    """Real time between two instants (subtracting datetimes of one tzinfo compares wall clocks)."""
    return end.astimezone(UTC) - start.astimezone(UTC)


def at(zone: str | ZoneInfo, *parts: int) -> datetime:
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    return datetime(*parts, tzinfo=tz)


@pytest.mark.parametrize(
    ("text", "expression", "written"),
    [
        ("errors in the last 6 hours", "last_6h", "last 6 hours"),
        ("what did we spend last month", "prev_month", "last month"),
        ("alarms this week", "this_week", "this week"),
        ("forecast for the rest of the quarter", "rest_of_quarter", "rest of the quarter"),
        ("errors since Monday", "since_monday", "since Monday"),
        ("cost yesterday", "yesterday", "yesterday"),
        ("over the last 30 days", "last_30d", "last 30 days"),
        ("in the past two weeks", "last_2w", "past two weeks"),
        ("the past month", "last_1mo", "the past month"),
        ("last hour", "last_1h", "last hour"),
        ("last 24h", "last_24h", "last 24h"),
        ("spend month to date", "this_month", "month to date"),
        ("YTD spend", "this_year", "YTD"),
        ("since last fri", "since_friday", "since last fri"),
        ("since 2026-02-01", "since_2026-02-01", "since 2026-02-01"),
        ("next 7 days", "next_7d", "next 7 days"),
        ("previous quarter", "prev_quarter", "previous quarter"),
    ],
)
def test_phrases_normalize(text: str, expression: str, written: str) -> None:
    assert find(text) == (expression, written)
    assert is_expression(expression)


@pytest.mark.parametrize("text", ["create 3 servers", "since 2026-02-30", "last 0 days", "lasting change"])
def test_no_time_range(text: str) -> None:
    assert find(text) is None


def test_earliest_phrase_wins() -> None:
    assert find("this week, compared with last month") == ("this_week", "this week")


def test_rolling_hours_are_elapsed_time_across_the_spring_change() -> None:
    now = at(BERLIN, 2026, 3, 29, 5, 0)  # 05:00 CEST; 6 real hours back is 22:00 CET the day before
    start, end = resolve("last_6h", now=now, tz=BERLIN)
    assert end == now and elapsed(start, end) == timedelta(hours=6)
    assert (start.day, start.hour, start.utcoffset()) == (28, 22, timedelta(hours=1))


def test_days_are_calendar_days_so_yesterday_across_a_dst_change_is_23_or_25_hours() -> None:
    start, end = resolve("yesterday", now=at(BERLIN, 2026, 3, 30, 12, 0), tz=BERLIN)
    assert (start, end) == (at(BERLIN, 2026, 3, 29), at(BERLIN, 2026, 3, 30))
    assert elapsed(start, end) == timedelta(hours=23)
    start, end = resolve("yesterday", now=at(BERLIN, 2026, 10, 26, 9, 0), tz=BERLIN)
    assert elapsed(start, end) == timedelta(hours=25)
    start, end = resolve("last_1d", now=at(BERLIN, 2026, 3, 29, 12, 0), tz=BERLIN)
    assert start == at(BERLIN, 2026, 3, 28, 12, 0) and elapsed(start, end) == timedelta(hours=23)


def test_a_wall_time_inside_the_gap_moves_past_it() -> None:
    # 02:30 on 2026-03-29 does not exist in Berlin; a day after 02:30 the day before lands at 03:30
    start, _ = resolve("last_1d", now=at(BERLIN, 2026, 3, 30, 2, 30), tz=BERLIN)
    assert start == at(BERLIN, 2026, 3, 29, 3, 30)


def test_now_in_another_zone_is_read_in_the_configs_zone() -> None:
    now = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # already April 1st in Kolkata
    start, end = resolve("this_month", now=now, tz=KOLKATA)
    assert start == at(KOLKATA, 2026, 4, 1) and end == now
    assert resolve("prev_month", now=now, tz=KOLKATA) == (at(KOLKATA, 2026, 3, 1), at(KOLKATA, 2026, 4, 1))
    assert resolve("prev_month", now=now, tz="UTC") == (at("UTC", 2026, 2, 1), at("UTC", 2026, 3, 1))


@pytest.mark.parametrize(
    ("expression", "now", "start", "end"),
    [
        ("prev_month", (2026, 3, 1, 0, 5), (2026, 2, 1), (2026, 3, 1)),
        ("prev_month", (2026, 1, 15), (2025, 12, 1), (2026, 1, 1)),
        ("prev_quarter", (2026, 1, 2), (2025, 10, 1), (2026, 1, 1)),
        ("prev_quarter", (2026, 5, 31), (2026, 1, 1), (2026, 4, 1)),
        ("this_quarter", (2026, 9, 30, 23, 59), (2026, 7, 1), (2026, 9, 30, 23, 59)),
        ("rest_of_quarter", (2026, 12, 31, 18), (2026, 12, 31, 18), (2027, 1, 1)),
        ("rest_of_month", (2028, 2, 10), (2028, 2, 10), (2028, 3, 1)),
        ("rest_of_week", (2026, 12, 4, 9), (2026, 12, 4, 9), (2026, 12, 7)),
        ("rest_of_year", (2026, 12, 4), (2026, 12, 4), (2027, 1, 1)),
        ("this_week", (2026, 12, 7, 8), (2026, 12, 7), (2026, 12, 7, 8)),
        ("prev_week", (2026, 12, 4), (2026, 11, 23), (2026, 11, 30)),
        ("prev_year", (2026, 1, 1, 0, 1), (2025, 1, 1), (2026, 1, 1)),
        ("since_monday", (2026, 12, 4, 10), (2026, 11, 30), (2026, 12, 4, 10)),
        ("since_friday", (2026, 12, 4, 10), (2026, 12, 4), (2026, 12, 4, 10)),
        ("since_saturday", (2026, 12, 4, 10), (2026, 11, 28), (2026, 12, 4, 10)),
        ("since_2026-11-15", (2026, 12, 4, 10), (2026, 11, 15), (2026, 12, 4, 10)),
        ("last_1mo", (2026, 3, 31, 12), (2026, 2, 28, 12), (2026, 3, 31, 12)),
        ("last_2w", (2026, 12, 4, 10), (2026, 11, 20, 10), (2026, 12, 4, 10)),
        ("next_7d", (2026, 12, 4, 10), (2026, 12, 4, 10), (2026, 12, 11, 10)),
        ("today", (2026, 12, 4, 10), (2026, 12, 4), (2026, 12, 4, 10)),
    ],
)
def test_calendar_boundaries(expression: str, now: tuple, start: tuple, end: tuple) -> None:
    assert resolve(expression, now=at(BERLIN, *now), tz=BERLIN) == (at(BERLIN, *start), at(BERLIN, *end))


def test_quarter_across_the_autumn_change_keeps_local_midnights() -> None:
    start, end = resolve("this_quarter", now=at(BERLIN, 2026, 11, 2, 12), tz=BERLIN)
    assert start == at(BERLIN, 2026, 10, 1) and start.utcoffset() == timedelta(hours=2)
    assert end.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize("expression", ["last_6x", "last_0h", "this_decade", "since_funday", "6h", ""])
def test_unknown_expressions_are_refused(expression: str) -> None:
    assert not is_expression(expression)
    with pytest.raises(ValueError, match="not a time range expression"):
        resolve(expression, now=at(BERLIN, 2026, 1, 1), tz=BERLIN)


def test_naive_now_and_a_future_since_date_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve("today", now=datetime(2026, 1, 1), tz=BERLIN)
    with pytest.raises(ValueError, match="after now"):
        resolve("since_2027-01-01", now=at(BERLIN, 2026, 1, 1), tz=BERLIN)


def test_legacy_window_of_rolling_expressions() -> None:
    assert [window_of(e) for e in ("last_6h", "last_30m", "last_2w", "last_1mo", "prev_month")] == [
        "6h",
        "30m",
        "14d",
        "30d",
        None,
    ]
