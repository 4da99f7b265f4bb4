"""Researchers' view of the pool: filterable list of ECGs, each with its sheet."""

from django.contrib import admin
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path

from ecgstudy.pool.models import EcgRecord
from ecgstudy.pool.selectors import record_sheet_svg, record_signal_bytes


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
            {"fields": ("fs", "n_samples", "signal_sha256", "created_at")},
        ),
    )

    # Records arrive by import or generation and are never edited by hand.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        files = [
            path(
                "<int:pk>/sheet.svg",
                self.admin_site.admin_view(self.sheet_view),
                name="pool_ecgrecord_sheet",
            ),
            path(
                "<int:pk>/signal.npz",
                self.admin_site.admin_view(self.signal_view),
                name="pool_ecgrecord_signal",
            ),
        ]
        return [*files, *super().get_urls()]

    def _viewable(self, request, pk: int) -> EcgRecord:
        record = get_object_or_404(EcgRecord, pk=pk)
        if not self.has_view_permission(request, record):
            raise Http404
        return record

    def sheet_view(self, request, pk: int) -> HttpResponse:
        svg = record_sheet_svg(record=self._viewable(request, pk))
        if not svg:
            raise Http404("sheet not rendered")
        response = HttpResponse(svg, content_type="image/svg+xml")
        response["Cache-Control"] = "private, max-age=3600"
        return response

    def signal_view(self, request, pk: int) -> HttpResponse:
        record = self._viewable(request, pk)
        response = HttpResponse(
            record_signal_bytes(record=record), content_type="application/octet-stream"
        )
        filename = f"{record.dataset}-{record.source_id}.npz"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
