"""``python manage.py create_api_token "Marketing automation"`` — prints a new API key once."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from leads.intake.writes import FieldError, api_token_create


class Command(BaseCommand):
    help = "Create an API token for a named integration and print the key (it is shown this once, stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The integration the token is for, e.g. 'Web forms'.")

    def handle(self, *args, name: str, **options):
        try:
            token, raw = api_token_create(name=name)
        except FieldError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(
            f"Created token {token.prefix}… for {token.name!r}. Copy it now: it cannot be shown again.\n"
            "Use it as the header  Authorization: Bearer <token>"
        )
        self.stdout.write(raw)
