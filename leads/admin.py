from django.contrib import admin

from leads.models import Account, Activity, Assignment, Lead, Note, RescoreJob, Team, TeamMember, Transition


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
