"""``python manage.py create_api_token "Marketing automation" [--scopes leads:write …]`` — prints a new API key once."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from leads.intake.writes import FieldError, api_token_create
from leads.models import API_SCOPES


class Command(BaseCommand):
    help = "Create an API token for a named integration and print the key (it is shown this once, stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The integration the token is for, e.g. 'Web forms'.")
        parser.add_argument(
            "--scopes",
            nargs="+",
            metavar="SCOPE",
            help=f"What the token may do (default: all of {', '.join(API_SCOPES)}).",
        )

    def handle(self, *args, name: str, scopes: list[str] | None = None, **options):
        try:
            token, raw = api_token_create(name=name, scopes=scopes)
        except FieldError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(
            f"Created token {token.prefix}… for {token.name!r} with scopes {', '.join(token.scopes)}. "
            "Copy it now: it cannot be shown again.\n"
            "Use it as the header  Authorization: Bearer <token>"
        )
        self.stdout.write(raw)
