"""Public holidays for a business calendar, from the maintained ``holidays`` package.

Leaders prefill the SLA calendar with a country's public holidays and then edit the list: the
agreement stores plain dates (what both sides signed), so later releases of the package never
change a signed calendar.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from functools import cache

import holidays
from holidays.registry import COUNTRIES as _REGISTRY

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@cache
def countries() -> tuple[tuple[str, str], ...]:
    """(ISO code, name) of every country the package knows, by name."""
    names = {alpha2: module.replace("_", " ").title() for module, (_cls, alpha2, *_rest) in _REGISTRY.items()}
    return tuple(sorted(names.items(), key=lambda item: item[1]))


def subdivisions(country: str) -> tuple[str, ...]:
    return tuple(holidays.country_holidays(country).subdivisions) if country in dict(countries()) else ()


def public_holidays(*, country: str, years: Iterable[int], subdivision: str = "") -> list[tuple[dt.date, str]]:
    """The country's (and subdivision's) public holidays in ``years``, by date; ValueError for an unknown one."""
    if country not in dict(countries()):
        raise ValueError(f"No public holidays are known for the country '{country}'.")
    if subdivision and subdivision not in subdivisions(country):
        raise ValueError(f"'{subdivision}' is not a region of {dict(countries())[country]}.")
    found = holidays.country_holidays(country, subdiv=subdivision or None, years=list(years))
    return sorted(found.items())


def parse_holiday_text(text: str) -> list[str]:
    """The dates of the holidays field: one per line or separated by commas, each optionally followed
    by its name ("2027-12-25 Christmas Day"). The first word of an entry is its date, so a mistyped
    date is reported by validation instead of being read as part of a name."""
    dates: list[str] = []
    for entry in re.split(r"[\n,;]+", text or ""):
        words = entry.split()
        if not words:
            continue
        dates.append(words[0])
        # Several dates on one line separated by spaces (the older format) stay dates.
        for word in words[1:]:
            if not DATE.match(word):
                break
            dates.append(word)
    return sorted(set(dates))


def holiday_text_merge(text: str, found: list[tuple[dt.date, str]]) -> str:
    """The field's text with ``found`` added (by date, named), keeping what was typed, one per line."""
    lines: dict[str, str] = {}
    for entry in re.split(r"[\n,;]+", text or ""):
        words = entry.split()
        if words:
            lines.setdefault(words[0], " ".join(words))
    for day, name in found:
        lines.setdefault(day.isoformat(), f"{day.isoformat()} {name}")
    return "\n".join(lines[key] for key in sorted(lines))
