"""Admin for the agreement: read-mostly, because every change must go through the services (audit)."""

from __future__ import annotations

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from alignment.models import (
    AgreementEvent,
    AgreementRevision,
    AgreementVersion,
    Comment,
    Persona,
    PersonaComment,
    SignOff,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: visible to admins, never edited or deleted by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Persona)
class PersonaAdmin(SimpleHistoryAdmin):
    list_display = ("name", "buying_role", "archived_at", "updated_at")
    list_filter = ("buying_role",)
    search_fields = ("name", "summary")


@admin.register(AgreementVersion)
class AgreementVersionAdmin(ReadOnlyAdmin):
    list_display = ("number", "status", "revision", "author", "published_at", "retired_at")
    list_filter = ("status",)


@admin.register(AgreementRevision)
class AgreementRevisionAdmin(ReadOnlyAdmin):
    list_display = ("version", "revision", "author", "based_on_revision", "created_at")
    list_select_related = ("version", "author")


@admin.register(AgreementEvent)
class AgreementEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "version", "action", "actor", "summary")
    list_filter = ("action",)
    list_select_related = ("version", "actor")


@admin.register(SignOff)
class SignOffAdmin(ReadOnlyAdmin):
    list_display = ("version", "side", "user", "revision", "signed_at", "voided_at")
    list_select_related = ("version", "user")


@admin.register(Comment)
class CommentAdmin(ReadOnlyAdmin):
    list_display = ("version", "rule_id", "author", "created_at", "resolved_at")
    list_select_related = ("version", "author")


@admin.register(PersonaComment)
class PersonaCommentAdmin(ReadOnlyAdmin):
    list_display = ("persona", "author", "created_at")
