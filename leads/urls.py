from django.urls import path

from leads.feedback import views as feedback_views
from leads.inbox import views
from leads.intake import data_views
from leads.intake import views as import_views
from leads.scoring import evidence_views, rescore_views, scorecard_views
from leads.teams import views as team_views

app_name = "leads"

urlpatterns = [
    path("overview/", views.overview, name="overview"),
    path("rescore/status/", rescore_views.rescore_status, name="rescore_status"),
    # The agreement's Evidence and Suggestions panels (agreement helper)
    path("evidence/", evidence_views.evidence, name="evidence"),
    path("evidence/suggestions/", evidence_views.evidence_suggestions, name="evidence_suggestions"),
    path("evidence/suggestions/add-rule/", evidence_views.suggestion_add_rule, name="suggestion_add_rule"),
    # Proposals from outcomes (leaders): form → proposal with its model card → a draft from it
    path("proposals/new/", scorecard_views.scorecard_new, name="scorecard_new"),
    path("proposals/<int:pk>/", scorecard_views.scorecard_job, name="scorecard_job"),
    path("proposals/<int:pk>/progress/", scorecard_views.scorecard_progress, name="scorecard_progress"),
    path("proposals/<int:pk>/adopt/", scorecard_views.scorecard_adopt_view, name="scorecard_adopt"),
    path("", views.lead_list, name="lead_list"),
    path("export.csv", views.lead_export, name="lead_export"),
    path("columns/", views.lead_columns, name="lead_columns"),
    # The SDR inbox
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/next/", views.claim_next, name="claim_next"),
    path("inbox/away/", views.away, name="away"),
    path("inbox/bulk/accept/", views.bulk_accept, name="bulk_accept"),
    path("inbox/bulk/recycle/", views.bulk_recycle, name="bulk_recycle"),
    path("inbox/bulk/reject/", views.bulk_reject, name="bulk_reject"),
    # Rejected leads back to marketing
    path("rejected/", feedback_views.rejected_list, name="rejected_list"),
    path("rejected/<int:pk>/answer/", feedback_views.rejected_answer, name="rejected_answer"),
    path("rejected/<int:pk>/nurture/", feedback_views.rejected_nurture, name="rejected_nurture"),
    # Team settings (managers)
    path("teams/", team_views.team_list, name="team_list"),
    path("teams/<int:pk>/", team_views.team_settings, name="team_settings"),
    # One lead and one POST per action
    path("<int:pk>/", views.lead_detail, name="lead_detail"),
    path("<int:pk>/accept/", views.accept, name="accept"),
    path("<int:pk>/claim/", views.claim, name="claim"),
    path("<int:pk>/recycle/", views.recycle, name="recycle"),
    path("<int:pk>/reject/", views.reject, name="reject"),
    path("<int:pk>/disqualify/", views.disqualify, name="disqualify"),
    path("<int:pk>/convert/", views.convert, name="convert"),
    path("<int:pk>/won/", views.won, name="won"),
    path("<int:pk>/lost/", views.lost, name="lost"),
    path("<int:pk>/reassign/", views.reassign, name="reassign"),
    path("<int:pk>/undo/", views.undo, name="undo"),
    path("<int:pk>/notes/", views.note_add, name="note_add"),
    path("<int:pk>/attempts/", views.attempt, name="attempt"),
    path("<int:pk>/edit/", views.lead_edit, name="lead_edit"),
    # The Data page: the organisation's attributes, choices and activity kinds
    path("data/", data_views.data_home, name="data"),
    path("data/attributes/add", data_views.attribute_add, name="data_attribute_add"),
    path("data/attributes/<slug:key>/", data_views.attribute_detail, name="data_attribute"),
    path("data/attributes/<slug:key>/edit", data_views.attribute_edit, name="data_attribute_edit"),
    path("data/attributes/<slug:key>/choices/add", data_views.choice_add, name="data_choice_add"),
    path("data/attributes/<slug:key>/choices/archive", data_views.choice_archive, name="data_choice_archive"),
    path("data/attributes/<slug:key>/choices/merge", data_views.choice_merge, name="data_choice_merge"),
    path("data/converted", data_views.outcome_edit, name="data_outcome"),
    path("data/kinds/add", data_views.kind_add, name="data_kind_add"),
    path("data/countries/region", data_views.country_region, name="data_country_region"),
    path("data/kinds/<slug:key>/edit", data_views.kind_edit, name="data_kind_edit"),
    # CSV import (marketing leaders): upload → mapping → preview → import → result
    path("import/", import_views.import_upload, name="import_upload"),
    path("import/template.csv", import_views.import_template, name="import_template"),
    path("import/history/", import_views.import_history, name="import_history"),
    path("import/<int:pk>/", import_views.import_detail, name="import_detail"),
    path("import/<int:pk>/mapping/", import_views.import_mapping, name="import_mapping"),
    path("import/<int:pk>/values/", import_views.import_values, name="import_values"),
    path("import/<int:pk>/preview/", import_views.import_preview, name="import_preview"),
    path("import/<int:pk>/run/", import_views.import_run, name="import_run"),
    path("import/<int:pk>/progress/", import_views.import_progress, name="import_progress"),
    path("import/<int:pk>/rows-to-fix.csv", import_views.import_errors, name="import_errors"),
]
