from django.urls import path

from alignment import views

app_name = "alignment"

urlpatterns = [
    path("", views.agreement, name="agreement"),
    path("ours/", views.our_agreement, name="our_agreement"),
    path("history/", views.history, name="history"),
    path("diff/", views.diff, name="diff"),
    path("draft/", views.open_draft, name="draft"),
    path("draft/start/", views.start, name="start"),
    path("holidays/", views.holidays_prefill, name="holidays_prefill"),
    path("v/<int:number>/", views.version_detail, name="version"),
    path("v/<int:number>/edit/", views.edit, name="edit"),
    path("v/<int:number>/edit/resolve/", views.resolve, name="resolve"),
    path("v/<int:number>/edit/row/<slug:section>/", views.rule_row, name="rule_row"),
    path("v/<int:number>/rename/", views.rename, name="rename"),
    path("v/<int:number>/propose/", views.propose, name="propose"),
    path("v/<int:number>/reopen/", views.reopen, name="reopen"),
    path("v/<int:number>/sign/", views.sign, name="sign"),
    path("v/<int:number>/publish/", views.publish, name="publish"),
    path("v/<int:number>/abandon/", views.abandon, name="abandon"),
    path("v/<int:number>/presence/", views.presence_view, name="presence"),
    path("v/<int:number>/comments/", views.comments, name="comments"),
    path("v/<int:number>/comments/new/", views.comment_create, name="comment_create"),
    path("comments/<int:pk>/resolve/", views.comment_resolve_view, name="comment_resolve"),
    path("comments/<int:pk>/reopen/", views.comment_reopen_view, name="comment_reopen"),
    path("personas/", views.persona_list, name="persona_list"),
    path("personas/new/", views.persona_edit, name="persona_create"),
    path("personas/<int:pk>/", views.persona_detail, name="persona_detail"),
    path("personas/<int:pk>/edit/", views.persona_edit, name="persona_edit"),
    path("personas/<int:pk>/archive/", views.persona_archive_view, name="persona_archive"),
    path("personas/<int:pk>/restore/", views.persona_restore_view, name="persona_restore"),
    path("personas/<int:pk>/comments/", views.persona_comment, name="persona_comment"),
]
