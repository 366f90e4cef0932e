"""Display filters of the run pages: durations an operator reads at a glance."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def duration(ms) -> str:
    """Milliseconds as "38 ms", "1.4 s", "11 s", "2 min 5 s" or "1 h 3 min"; blank for no value."""
    try:
        ms = int(ms)
    except (TypeError, ValueError):
        return ""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 10_000:
        return f"{ms / 1000:.1f} s"
    seconds = round(ms / 1000)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
