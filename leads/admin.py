from django.contrib import admin, messages
from django.template.response import TemplateResponse

from leads.intake.writes import api_token_key, api_token_revoke
from leads.models import (
    Account,
    Activity,
    ApiToken,
    Assignment,
    ImportJob,
    Lead,
    Note,
    RescoreJob,
    Team,
    TeamMember,
    Transition,
)


class TeamMemberInline(admin.TabularInline):
    model = TeamMember
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "manager", "time_zone", "routing", "escalate_breaches"]
    inlines = [TeamMemberInline]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "industry", "employees", "country", "region"]
    list_filter = ["industry", "region"]
    search_fields = ["name", "domain"]


class TransitionInline(admin.TabularInline):
    model = Transition
    extra = 0
    can_delete = False
    fields = ["at", "from_stage", "to_stage", "actor", "owner", "reason_code", "note", "agreement_version"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False  # the lifecycle log is written by services only


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["email", "full_name", "stage", "score", "grade", "owner", "updated_at"]
    list_filter = ["stage", "grade", "source"]
    search_fields = ["email", "first_name", "last_name", "account__name"]
    raw_id_fields = ["account", "owner", "persona", "scored_version", "team"]
    # Stage, owner and scores change only through services so that every change is logged.
    readonly_fields = [
        "stage",
        "owner",
        "fit_score",
        "engagement_score",
        "score",
        "grade",
        "knocked_out",
        "scored_version",
        "scored_at",
        "mql_at",
        "sla_due_at",
        "first_action_at",
        "recycled_at",
    ]
    inlines = [TransitionInline]
    show_full_result_count = False


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["lead", "kind", "occurred_at", "external_id"]
    list_filter = ["kind"]
    raw_id_fields = ["lead"]
    show_full_result_count = False


@admin.register(Transition)
class TransitionAdmin(admin.ModelAdmin):
    list_display = ["lead", "from_stage", "to_stage", "actor", "at", "reason_code"]
    list_filter = ["to_stage"]
    raw_id_fields = ["lead", "actor", "owner", "agreement_version"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["lead", "from_owner", "to_owner", "reason", "actor", "at"]
    raw_id_fields = ["lead", "from_owner", "to_owner", "actor"]

    def has_change_permission(self, request, obj=None):
        return False


admin.site.register(Note)
admin.site.register(RescoreJob)


# --- Integrations: API tokens and CSV imports (intake) --------------------------------------------


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Create a token by naming its integration; the key is shown once on the next page, then only its hash exists."""

    list_display = ["name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    fields = ["name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            request._accord_new_api_key = api_token_key(obj)
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(request, "_accord_new_api_key", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {**self.admin_site.each_context(request), "token": obj, "raw_key": raw, "opts": self.model._meta}
        response = TemplateResponse(request, "admin/leads/apitoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected tokens (integrations using them get 401)")
    def revoke(self, request, queryset):
        live = list(queryset.filter(revoked_at__isnull=True))
        for token in live:
            api_token_revoke(token=token)
        messages.success(request, f"Revoked {len(live)} token{'s' if len(live) != 1 else ''}.")

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: last_used_at and who created it stay on record


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = [
        "original_name",
        "status",
        "total_rows",
        "created_count",
        "updated_count",
        "error_count",
        "created_by",
        "created_at",
    ]
    list_filter = ["status"]
    readonly_fields = [f.name for f in ImportJob._meta.fields]

    def has_add_permission(self, request):
        return False  # imports start on the Import page
