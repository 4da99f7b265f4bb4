"""URL routes: the admin for researchers, the reader pages, and sign-in."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.cache import cache_control

from ecgstudy.studies.views import HomeView, healthz

admin.site.site_header = "ecgstudy"
admin.site.site_title = "ecgstudy"
admin.site.index_title = "Research administration"


@cache_control(public=True, max_age=24 * 3600)
def plotly_js(request: HttpRequest) -> HttpResponseRedirect:
    """The report page's plotly.js address sends the browser to the static file,
    which it keeps, instead of an admin view that every admin page marks no-store."""
    return HttpResponseRedirect(static(settings.PLOTLY_JS_STATIC))


urlpatterns = [
    # Before the admin, whose view of the same address (studies_study_plotly)
    # would send the 4.8 MB again on every report view.
    path("admin/studies/study/report/plotly.js", plotly_js, name="plotly_js"),
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
