"""One understanding of time ranges for every domain: "last 6 hours", "this week", "rest of the quarter".

``find(text)`` reads the first time range a request names and returns it as a normalized expression
(stored in ``Params.time_range``); ``resolve(expression, now=..., tz=...)`` turns an expression into an
aware ``(start, end)`` pair in the config's timezone. The expression grammar:

* ``last_<N><unit>`` / ``next_<N><unit>``, unit ``m`` ``h`` ``d`` ``w`` ``mo``: rolling, ending (or
  starting) now. Minutes and hours are elapsed time; days, weeks and months are calendar arithmetic in
  the timezone (the same wall-clock time N days ago), so "last 1d" across a DST change is 23 or 25 hours.
* ``today``, ``yesterday``: local calendar days (today ends now).
* ``this_<period>``: from the start of the current week/month/quarter/year to now (to date).
* ``prev_<period>``: the whole previous period ("last month" is the previous calendar month; "the past
  month" is rolling, ``last_1mo``).
* ``rest_of_<period>``: from now to the end of the current period (forecasts).
* ``since_<weekday>``: from the start of the most recent such day (today, if it is that day) to now;
  ``since_YYYY-MM-DD``: from that local midnight to now.

Weeks start on Monday. Ends are exclusive. No Django imports: used by the intent schema and parsers.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["EXPRESSION_RE", "find", "is_expression", "resolve", "window_of"]

PERIODS = ("week", "month", "quarter", "year")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_ROLLING = 9999

EXPRESSION_RE = re.compile(
    r"^(?:(?:last|next)_[1-9]\d{0,3}(?:m|h|d|w|mo)|today|yesterday"
    rf"|(?:this|prev|rest_of)_(?:{'|'.join(PERIODS)})"
    rf"|since_(?:{'|'.join(WEEKDAYS)}|\d{{4}}-\d{{2}}-\d{{2}}))$"
)

_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
    "fourteen": 14,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "sixty": 60,
    "ninety": 90,
}
_NUMBER = r"(\d{1,4}|" + "|".join(sorted(_NUMBERS, key=len, reverse=True)) + r")"
_UNIT = r"(minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|months?|mo)"
_UNIT_CODES = {"min": "m", "m": "m", "h": "h", "d": "d", "w": "w", "mo": "mo"}
_DAY_ABBREVIATIONS = {day[:3]: day for day in WEEKDAYS}

# Longest, most specific forms first; each pattern maps its match to an expression (or None).
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.ASCII), kind)
    for pattern, kind in (
        (rf"\b(?:last|past|previous|prior)\s+{_NUMBER}\s*{_UNIT}\b", "rolling"),
        (rf"\bnext\s+{_NUMBER}\s*{_UNIT}\b", "ahead"),
        (r"\b(?:rest|remainder|end)\s+of\s+(?:the\s+|this\s+)?(week|month|quarter|year)\b", "rest"),
        (r"\b(last|previous|prior)\s+(week|month|quarter|year)\b", "prev"),
        (r"\b(?:the\s+)?past\s+(minute|hour|day|week|month)\b", "rolling_one"),
        (r"\b(?:last|previous|prior)\s+(minute|hour|day)\b", "rolling_one"),
        (r"\b(?:this|current)\s+(week|month|quarter|year)\b", "this"),
        (r"\b(week|month|quarter|year)[\s-]to[\s-]date\b", "this"),
        (r"\b(mtd|qtd|ytd|wtd)\b", "to_date"),
        (r"\bsince\s+(?:last\s+)?(mon|tue|wed|thu|fri|sat|sun)[a-z]*\b", "since_day"),
        (r"\bsince\s+(\d{4}-\d{2}-\d{2})\b", "since_date"),
        (r"\b(today|yesterday)\b", "day"),
    )
)


def _unit(word: str) -> str:
    if word.startswith("mo"):
        return "mo"
    if word.startswith("min") or word == "m":
        return "m"
    return _UNIT_CODES[word[0]]


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBERS[word]


def _expression(match: re.Match[str], kind: str) -> str | None:
    groups = match.groups()
    if kind in ("rolling", "ahead"):
        count = _number(groups[0])
        if not 1 <= count <= MAX_ROLLING:
            return None
        return f"{'last' if kind == 'rolling' else 'next'}_{count}{_unit(groups[1])}"
    if kind == "rolling_one":
        return f"last_1{_unit(groups[0])}"
    if kind == "rest":
        return f"rest_of_{groups[0]}"
    if kind == "prev":
        return f"prev_{groups[1]}"
    if kind == "this":
        return f"this_{groups[0]}"
    if kind == "to_date":
        return "this_" + {"m": "month", "q": "quarter", "y": "year", "w": "week"}[groups[0][0]]
    if kind == "since_day":
        return f"since_{_DAY_ABBREVIATIONS[groups[0]]}"
    if kind == "since_date":
        try:
            date.fromisoformat(groups[0])
        except ValueError:
            return None
        return f"since_{groups[0]}"
    return groups[0]  # today / yesterday


def find(text: str) -> tuple[str, str] | None:
    """``(expression, text as written)`` for the earliest time range in ``text``, or None."""
    lowered = text.lower()
    best: tuple[int, int, str] | None = None
    for pattern, kind in _PATTERNS:
        for match in pattern.finditer(lowered):
            expression = _expression(match, kind)
            if expression is None:
                continue
            # the earliest start wins; at one start, the longest span ("last 2 weeks" over "last 2")
            if best is None or (match.start(), -match.end()) < (best[0], -best[1]):
                best = (match.start(), match.end(), expression)
            break
    if best is None:
        return None
    start, end, expression = best
    return expression, text[start:end]


def is_expression(expression: str) -> bool:
    if not EXPRESSION_RE.match(expression):
        return False
    if expression.startswith("since_") and expression[6].isdigit():
        try:
            date.fromisoformat(expression[6:])
        except ValueError:
            return False
    return True


def window_of(expression: str) -> str | None:
    """The legacy look-back window ("6h", "7d") of a rolling ``last_`` expression, else None."""
    match = re.fullmatch(r"last_(\d+)(m|h|d|w|mo)", expression)
    if match is None:
        return None
    count, unit = int(match.group(1)), match.group(2)
    if unit == "w":
        return f"{count * 7}d"
    if unit == "mo":
        return f"{count * 30}d"
    return f"{count}{unit}"


# --- resolution ------------------------------------------------------------------------------------


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def _local(naive: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in ``zone``; a time inside a DST gap moves forward past the gap."""
    return naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last_day = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last_day))


def _period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def _period_next(start: date, period: str) -> date:
    if period == "week":
        return start + timedelta(days=7)
    return _add_months(start, {"month": 1, "quarter": 3, "year": 12}[period])


def _period_prev(start: date, period: str) -> date:
    if period == "week":
        return start - timedelta(days=7)
    return _add_months(start, -{"month": 1, "quarter": 3, "year": 12}[period])


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return _local(datetime(day.year, day.month, day.day), zone)


def _shift(local: datetime, zone: ZoneInfo, count: int, unit: str) -> datetime:
    if unit in ("m", "h"):
        delta = timedelta(minutes=count) if unit == "m" else timedelta(hours=count)
        return (local.astimezone(UTC) + delta).astimezone(zone)
    naive = local.replace(tzinfo=None)
    if unit == "mo":
        moved = _add_months(naive.date(), count)
        return _local(datetime.combine(moved, naive.time()), zone)
    days = count * (7 if unit == "w" else 1)
    return _local(naive + timedelta(days=days), zone)


def resolve(expression: str, *, now: datetime, tz: str | ZoneInfo) -> tuple[datetime, datetime]:
    """``(start, end)`` of ``expression`` as aware datetimes in ``tz`` (a zoneinfo name), ``end``
    exclusive. ``now`` must be timezone-aware. Raises ValueError for an unknown expression."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not is_expression(expression):
        raise ValueError(f"not a time range expression: {expression!r}")
    zone = _zone(tz)
    local = now.astimezone(zone)
    today = local.date()
    rolling = re.fullmatch(r"(last|next)_(\d+)(m|h|d|w|mo)", expression)
    if rolling:
        direction = -1 if rolling.group(1) == "last" else 1
        other = _shift(local, zone, direction * int(rolling.group(2)), rolling.group(3))
        return (other, local) if direction < 0 else (local, other)
    if expression == "today":
        return _midnight(today, zone), local
    if expression == "yesterday":
        return _midnight(today - timedelta(days=1), zone), _midnight(today, zone)
    kind, _, rest = expression.partition("_")
    if kind == "since":
        if rest in WEEKDAYS:
            back = (today.weekday() - WEEKDAYS.index(rest)) % 7
            return _midnight(today - timedelta(days=back), zone), local
        start = _midnight(date.fromisoformat(rest), zone)
        if start > local:
            raise ValueError(f"{expression} starts after now")
        return start, local
    if expression.startswith("rest_of_"):
        period = expression.removeprefix("rest_of_")
        return local, _midnight(_period_next(_period_start(today, period), period), zone)
    start = _period_start(today, rest)
    if kind == "this":
        return _midnight(start, zone), local
    return _midnight(_period_prev(start, rest), zone), _midnight(start, zone)
