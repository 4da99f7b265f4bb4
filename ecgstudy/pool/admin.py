"""Researchers' view of the pool: filterable list of ECGs, each with its sheet."""

from django.contrib import admin
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from ecgstudy.pool.models import EcgRecord
from ecgstudy.pool.selectors import record_sheet_svg


@admin.register(EcgRecord)
class EcgRecordAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "origin",
        "rhythm",
        "normal",
        "age",
        "sex",
        "fs",
        "created_at",
    )
    list_filter = ("dataset", "origin", "rhythm", "normal", "sex")
    search_fields = ("source_id", "dataset")
    list_per_page = 50
    fieldsets = (
        (None, {"fields": ("sheet_image",)}),
        (
            "Record",
            {
                "fields": (
                    "origin",
                    "dataset",
                    "source_id",
                    "source_path",
                    "rhythm",
                    "normal",
                    "labels",
                    "age",
                    "sex",
                )
            },
        ),
        (
            "Signal",
            {"fields": ("fs", "n_samples", "signal", "signal_sha256", "created_at")},
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + ["sheet_image"]

    def has_add_permission(self, request):
        return False  # records arrive by import or generation, never by hand

    @admin.display(description="12-lead sheet")
    def sheet_image(self, obj: EcgRecord) -> str:
        if not obj.sheet:
            return "Not rendered yet: run manage.py render_sheets."
        url = reverse("admin:pool_ecgrecord_sheet", args=[obj.pk])
        return format_html(
            '<img src="{}" alt="12-lead ECG sheet" class="ecg-sheet">',
            url,
        )

    def get_urls(self):
        sheet = path(
            "<int:pk>/sheet.svg",
            self.admin_site.admin_view(self.sheet_view),
            name="pool_ecgrecord_sheet",
        )
        return [sheet, *super().get_urls()]

    def sheet_view(self, request, pk: int) -> HttpResponse:
        record = get_object_or_404(EcgRecord, pk=pk)
        if not self.has_view_permission(request, record):
            raise Http404
        svg = record_sheet_svg(record=record)
        if not svg:
            raise Http404("sheet not rendered")
        response = HttpResponse(svg, content_type="image/svg+xml")
        response["Cache-Control"] = "private, max-age=3600"
        return response
