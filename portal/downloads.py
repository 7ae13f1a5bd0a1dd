"""CSV downloads streamed row by row, opened correctly by spreadsheets."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse

# A cell a spreadsheet would run as a formula (=, +, -, @, and tab/CR that hide them) gets a
# leading apostrophe: lead data comes from web forms and integrations, not from us.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _Echo:
    def write(self, value: str) -> str:
        return value


def _lines(rows: Iterable[Iterable]) -> Iterator[str]:
    yield "\ufeff"  # Excel opens UTF-8 correctly only with a byte-order mark
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


def csv_download(rows: Iterable[Iterable], filename: str) -> StreamingHttpResponse:
    """``rows`` (the header first) as an attachment named ``filename``, written while it is read."""
    response = StreamingHttpResponse(_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
