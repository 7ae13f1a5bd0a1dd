"""Template helpers of the agreement pages."""

from __future__ import annotations

from django import template

from alignment.spec import SCORING_HELP
from portal.access import LEADERS, display_name, has_role

register = template.Library()


@register.filter
def person(user, fallback: str = "System") -> str:
    """A user's full name, else username; ``fallback`` when there is no user (system actions)."""
    return display_name(user, fallback)


@register.simple_tag
def scoring_help(term: str) -> str:
    """What ``grade`` or ``score`` means (``alignment.spec.SCORING_HELP``), for a title or a help line."""
    return SCORING_HELP[term]


@register.filter
def leader(user) -> bool:
    """True for marketing and sales leaders (and admins): they change the Data page's choices."""
    return has_role(user, *LEADERS)
