"""Query-string values, parsed once and refused with a 400 and a sentence when they are malformed.

A view reads ``whole_number(request, "version")`` instead of ``int(request.GET["version"])``: a
hand-edited or truncated link then gets a page saying which value is wrong, never a 500 and never a
silently different answer. ``portal.views.bad_request`` renders the refusal.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse

WHOLE = re.compile(r"\d{1,9}")  # up to 999,999,999: an id, a version or a page, never an overflow


def whole_number(
    request: HttpRequest,
    name: str,
    default: int | None = None,
    *,
    minimum: int = 0,
    choices: Collection[int] | None = None,
) -> int | None:
    """``?name=`` as a whole number (``default`` when absent or empty); anything else is refused."""
    raw = request.GET.get(name, "").strip()
    if raw == "":
        return default
    if not WHOLE.fullmatch(raw) or int(raw) < minimum:
        raise BadRequest(f"“{name}” must be a whole number{f' of at least {minimum}' if minimum else ''}, not “{raw}”.")
    value = int(raw)
    if choices is not None and value not in choices:
        allowed = ", ".join(str(c) for c in choices)
        raise BadRequest(f"“{name}” must be one of {allowed}, not “{raw}”.")
    return value


def one_of(request: HttpRequest, name: str, choices: Collection[str], default: str = "") -> str:
    """``?name=`` as one of ``choices`` (``default`` when absent or empty); anything else is refused."""
    raw = request.GET.get(name, "").strip()
    if raw == "":
        return default
    if raw not in choices:
        raise BadRequest(f"“{name}” must be one of {', '.join(sorted(choices))}, not “{raw}”.")
    return raw


def _has_control_characters(value: str) -> bool:
    return any(unicodedata.category(c) == "Cc" and c not in "\t\r\n" for c in value)


class QueryStringMiddleware:
    """Refuses query strings with control characters (a NUL cannot be stored in PostgreSQL text and
    no form produces one) before any view passes them to a query. The JSON API (``/api/``) is left
    to its schema, which answers in JSON with the statuses it documents."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            return self.get_response(request)
        for name, values in request.GET.lists():
            if _has_control_characters(name) or any(_has_control_characters(v) for v in values):
                raise BadRequest("The address holds a control character; check the link you followed.")
        return self.get_response(request)


def page_number(request: HttpRequest) -> int:
    """``?page=`` for a ``Paginator.get_page``: a whole number from 1 (past the last page shows the last)."""
    return whole_number(request, "page", 1, minimum=1)
