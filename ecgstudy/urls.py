"""URL routes: the admin (researchers) for now; reader pages join with the studies."""

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "ecgstudy"
admin.site.site_title = "ecgstudy"
admin.site.index_title = "Research administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
