"""URL routes: the admin for researchers, the reader pages, and sign-in."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from ecgstudy.studies.views import HomeView, healthz

admin.site.site_header = "ecgstudy"
admin.site.site_title = "ecgstudy"
admin.site.index_title = "Research administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("ecgstudy.studies.urls")),
    path("healthz/", healthz, name="healthz"),
    path("", HomeView.as_view(), name="home"),
]
