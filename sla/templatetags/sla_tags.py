"""Formatting of SLA figures: rates as percentages, business hours, table cells by column kind."""

from __future__ import annotations

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()


@register.filter
def pct(value, digits: int = 0) -> str:
    """0.8734 → "87 %"; missing → "—"."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.{int(digits)}f} %"


@register.filter
def hours(value) -> str:
    """Business hours: 0.75 → "45 min", 8.5 → "8.5 h"; missing → "—"."""
    if value is None or value == "":
        return "—"
    value = float(value)
    if value < 1:
        return f"{round(value * 60)} min"
    return f"{value:.1f} h"


@register.filter
def cell(value, kind: str) -> str:
    if kind == "pct":
        return pct(value)
    if kind == "hours":
        return hours(value)
    if kind == "int":
        return "—" if value is None else intcomma(value)
    return "—" if value in (None, "") else str(value)


@register.filter
def ratio_width(value, total) -> int:
    """Width (0–100) of a progress bar showing ``value`` out of ``total``."""
    try:
        return max(0, min(100, round(float(value) / float(total) * 100)))
    except (TypeError, ValueError, ZeroDivisionError):
        return 0


@register.filter
def get_item(sequence, index):
    try:
        return sequence[index]
    except (IndexError, KeyError, TypeError):
        return None


@register.filter
def column_kind(columns, index) -> str:
    try:
        return columns[index][1]
    except (IndexError, TypeError):
        return "text"


@register.filter
def age(value) -> str:
    """A wall-clock duration in its two largest units: "3 d 4 h", "5 h 12 min", "7 min"; missing → "—"."""
    if value is None or value == "":
        return "—"
    minutes = max(0, int(value.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours_, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours_} h"
    if hours_:
        return f"{hours_} h {mins} min"
    return f"{mins} min"
