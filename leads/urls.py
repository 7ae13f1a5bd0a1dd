from django.urls import path

from leads import rescore_views, views

app_name = "leads"

urlpatterns = [
    path("overview/", views.overview, name="overview"),
    path("rescore/status/", rescore_views.rescore_status, name="rescore_status"),
    path("", views.lead_list, name="lead_list"),
    path("<int:pk>/", views.lead_detail, name="lead_detail"),
]
