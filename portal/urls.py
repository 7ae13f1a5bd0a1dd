from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from leads.intake.api import api as leads_api
from portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("progress/<str:token>", views.progress_status, name="progress"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("agreement/", include("alignment.urls")),
    path("leads/", include("leads.urls")),
    path("sla/", include("sla.urls")),
    path("api/", leads_api.urls),  # integration API: /api/v1/…, docs at /api/docs
]

handler400 = "portal.views.bad_request"
