from django.urls import path

from sla import views

app_name = "sla"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("leads/", views.drill, name="drill"),
    path("leads/export.csv", views.drill_export, name="drill_export"),
    path("leads/reassign/", views.drill_reassign, name="drill_reassign"),
    path("export/<slug:key>.csv", views.export, name="export"),
    path("reports/", views.report_list, name="report_list"),
    path("reports/generate/", views.report_generate, name="report_generate"),
    path("reports/<int:pk>/", views.report_detail, name="report_detail"),
    path("reports/<int:pk>/csv/", views.report_csv, name="report_csv"),
    path("notifications/", views.notification_list, name="notification_list"),
    path("notifications/badge/", views.notification_badge, name="notification_badge"),
    path("notifications/<int:pk>/open/", views.notification_open, name="notification_open"),
    path("notifications/read-all/", views.notifications_read_all, name="notifications_read_all"),
]
