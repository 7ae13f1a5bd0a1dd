"""Template helpers of the agreement pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def person(user, fallback: str = "System") -> str:
    """A user's full name, else username; ``fallback`` when there is no user (system actions)."""
    if user is None:
        return fallback
    return user.get_full_name() or user.get_username()
