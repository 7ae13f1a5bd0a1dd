"""Roles (Django groups) and the server-side checks every view uses.

A role is a group; a user may hold several. Superusers and members of "Admin" pass every check.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import models


class Role(models.TextChoices):
    MARKETING = "Marketing leader", "Marketing leader"
    SALES = "Sales leader", "Sales leader"
    SDR = "SDR", "SDR"
    MANAGER = "Sales manager", "Sales manager"
    ADMIN = "Admin", "Admin"


LEADERS = (Role.MARKETING, Role.SALES)
EVERYONE = tuple(Role)


def user_roles(user) -> frozenset[str]:
    """The user's role names, read once per request and cached on the user object."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_accord_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            cached |= {Role.ADMIN.value}
        user._accord_roles = cached
    return cached


def is_admin(user) -> bool:
    return Role.ADMIN.value in user_roles(user)


def has_role(user, *roles: str) -> bool:
    """True when the user holds any of ``roles``; admins hold them all."""
    held = user_roles(user)
    return Role.ADMIN.value in held or any(str(r) in held for r in roles)


def require_role(user, *roles: str) -> None:
    if not has_role(user, *roles):
        raise PermissionDenied("Your role does not give access to this page.")


def role_required(*roles: str) -> Callable:
    """View decorator: anonymous → login page, wrong role → 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            require_role(request.user, *roles)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def display_name(user, fallback: str = "System") -> str:
    """How the portal names a person: full name, else username; ``fallback`` when there is none."""
    if user is None:
        return fallback
    return user.get_full_name() or user.get_username()
