"""Researchers' view of the pool: ECGs with their sheets, and generation jobs."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import CharField, Count, Value
from django.db.models.functions import Cast, Concat, Length, LPad
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from ecgstudy.pool.background import fail_stale_jobs
from ecgstudy.pool.forms import GenerationJobForm, SyntheticImportForm
from ecgstudy.pool.models import (
    EcgRecord,
    GenerationJob,
    GeneratorEvaluation,
    SyntheticSource,
)
from ecgstudy.pool.selectors import (
    origin_rhythm_counts,
    record_sheet_svg,
    record_signal_bytes,
)
from ecgstudy.pool.services import (
    SyntheticImportError,
    generation_job_cancel,
    generation_job_create,
    generation_job_start,
    synthetic_import_upload,
)

LIST_CSS = {"all": ("ecgstudy/admin-lists.css",)}


def natural_source_key():
    """dataset/source id, sorted as people count: "rec9" before "rec10",
    "job3-2" before "job3-10" (text alone puts "10" before "9"). The id's length,
    zero-padded, goes before the id itself."""
    return Concat(
        "dataset",
        Value("/"),
        LPad(Cast(Length("source_id"), CharField()), 4, Value("0")),
        "source_id",
        output_field=CharField(),
    )


def form_page(model_admin, request, title, form, template, extra_context=None):
    """An admin page of its own holding one form, in the admin's frame."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "opts": model_admin.model._meta,
        "has_view_permission": model_admin.has_view_permission(request),
        **(extra_context or {}),
    }
    return TemplateResponse(request, template, context)


@admin.register(EcgRecord)
class EcgRecordAdmin(admin.ModelAdmin):
    list_display = (
        "sheet_thumb",
        "id",
        "record",
        "origin",
        "rhythm",
        "normal",
        "age_sex",
        "created_at",
    )
    list_display_links = ("id", "record")
    ordering = (natural_source_key(),)
    list_filter = (
        "origin",
        "dataset",
        "rhythm",
        "normal",
        "sex",
        "generation_job",
        "synthetic_source",
        ("files_missing_since", admin.EmptyFieldListFilter),
    )
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
            {
                "fields": (
                    "fs",
                    "n_samples",
                    "signal_sha256",
                    "created_at",
                    "files_missing_since",
                )
            },
        ),
        (
            "Provenance (synthetic ECGs)",
            {
                "fields": (
                    "synthetic_source",
                    "generation_job",
                    "generation_index",
                    "generation_seed",
                    "checkpoint",
                    "sampling",
                ),
                "classes": ("collapse",),
            },
        ),
    )
    readonly_fields = ("checkpoint", "sampling", "files_missing_since")

    class Media:
        css = LIST_CSS

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        if "cl" in context:
            context["origin_rhythm"] = origin_rhythm_counts(context["cl"].queryset)
        return response

    @admin.display(description="sheet")
    def sheet_thumb(self, obj: EcgRecord) -> str:
        if not obj.sheet:
            return "-"
        return format_html(
            '<img src="{}" alt="12-lead sheet" class="sheet-thumb" loading="lazy">',
            reverse("admin:pool_ecgrecord_sheet", args=[obj.pk]),
        )

    @admin.display(description="record", ordering=natural_source_key())
    def record(self, obj: EcgRecord) -> str:
        return str(obj)

    @admin.display(description="age / sex", ordering="age")
    def age_sex(self, obj: EcgRecord) -> str:
        return f"{obj.age if obj.age is not None else '-'} / {obj.sex or '-'}"

    @admin.display(description="checkpoint")
    def checkpoint(self, obj: EcgRecord) -> str:
        job = obj.generation_job
        return f"{job.checkpoint_path} (sha256 {job.checkpoint_sha256})" if job else "-"

    @admin.display(description="sampling")
    def sampling(self, obj: EcgRecord) -> str:
        job = obj.generation_job
        if not job:
            return "-"
        return f"{job.sampler}, {job.steps} steps, guidance {job.guidance:g}"

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
        try:
            svg = record_sheet_svg(record=self._viewable(request, pk))
        except FileNotFoundError:
            raise Http404("the sheet's file is missing from storage") from None
        if not svg:
            raise Http404("sheet not rendered")
        response = HttpResponse(svg, content_type="image/svg+xml")
        response["Cache-Control"] = "private, max-age=3600"
        return response

    def signal_view(self, request, pk: int) -> HttpResponse:
        record = self._viewable(request, pk)
        try:
            payload = record_signal_bytes(record=record)
        except FileNotFoundError:
            raise Http404("the signal's file is missing from storage") from None
        response = HttpResponse(payload, content_type="application/octet-stream")
        filename = f"{record.dataset}-{record.source_id}.npz"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


_RUNS_ON = {
    "celery": "queued for the Celery workers",
    "thread": "running in the background on this server",
}


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = (
        "job",
        "status",
        "progress",
        "sampling",
        "seed",
        "checkpoint_short",
        "created",
        "duration",
        "error_short",
    )
    list_filter = ("status", "sampler")

    class Media:
        css = LIST_CSS

    @admin.display(description="job", ordering="pk")
    def job(self, job: GenerationJob) -> str:
        counts = ", ".join(f"{'+'.join(labels)}={n}" for labels, n in job.plan)
        return f"{job.pk}: {counts}"

    @admin.display(description="created", ordering="created_at")
    def created(self, job: GenerationJob) -> str:
        return f"{job.created_at:%Y-%m-%d %H:%M}"

    @admin.display(description="sampling", ordering="sampler")
    def sampling(self, job: GenerationJob) -> str:
        return f"{job.sampler} {job.steps} steps, guidance {job.guidance:g}"

    actions = ["resume_jobs", "cancel_jobs"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "status",
                    "progress",
                    "error",
                    "created_by",
                    "records_link",
                    "evaluations",
                )
            },
        ),
        (
            "Request",
            {"fields": ("plan", "sampler", "steps", "guidance", "seed", "chunk_size")},
        ),
        ("Checkpoint", {"fields": ("checkpoint_path", "checkpoint_sha256")}),
        ("Timing", {"fields": ("created_at", "started_at", "finished_at")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + [
            "progress",
            "records_link",
            "evaluations",
        ]

    @admin.display(description="evaluations of its checkpoint")
    def evaluations(self, job: GenerationJob) -> str:
        found = GeneratorEvaluation.objects.filter(
            checkpoint_sha256=job.checkpoint_sha256
        )
        if not found:
            return "none yet (manage.py evaluate_generator CHECKPOINT)"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            (
                (reverse("admin:pool_generatorevaluation_change", args=[e.pk]), str(e))
                for e in found
            ),
        )

    def has_change_permission(self, request, obj=None):
        return False  # a job is defined once; resume or cancel it with the actions

    def changelist_view(self, request, extra_context=None):
        fail_stale_jobs()
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        fail_stale_jobs()
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="progress")
    def progress(self, job: GenerationJob) -> str:
        return format_html(
            '<progress value="{}" max="{}"></progress> {} / {}',
            job.n_done,
            job.total,
            job.n_done,
            job.total,
        )

    @admin.display(description="checkpoint", ordering="checkpoint_sha256")
    def checkpoint_short(self, job: GenerationJob) -> str:
        return format_html(
            '<span class="hash" title="{}">{}</span>',
            job.checkpoint_sha256,
            job.checkpoint_sha256[:12],
        )

    @admin.display(description="time")
    def duration(self, job: GenerationJob) -> str:
        if not (job.started_at and job.finished_at):
            return "-"
        return f"{(job.finished_at - job.started_at).total_seconds():.0f} s"

    @admin.display(description="error")
    def error_short(self, job: GenerationJob) -> str:
        if not job.error:
            return "-"
        return format_html(
            '<span class="cut" title="{}">{}</span>', job.error, job.error
        )

    @admin.display(description="ECGs")
    def records_link(self, job: GenerationJob) -> str:
        url = reverse("admin:pool_ecgrecord_changelist")
        return format_html(
            '<a href="{}?generation_job__id__exact={}">{} synthetic ECGs</a>',
            url,
            job.pk,
            job.records.count(),
        )

    @admin.action(description="Start or resume the selected jobs", permissions=["add"])
    def resume_jobs(self, request, queryset):
        for job in queryset:
            if job.status == GenerationJob.Status.DONE:
                continue
            with transaction.atomic():
                runner = generation_job_start(job=job)
            self.message_user(request, f"{job}: {_RUNS_ON[runner]}.")

    @admin.action(description="Cancel the selected jobs", permissions=["add"])
    def cancel_jobs(self, request, queryset):
        cancelled = sum(generation_job_cancel(job=job) for job in queryset)
        self.message_user(request, f"{cancelled} job(s) cancelled.")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = GenerationJobForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            with transaction.atomic():
                job = generation_job_create(
                    **form.job_arguments(), created_by=request.user
                )
                runner = generation_job_start(job=job)
            self.message_user(
                request,
                f"{job}: {job.total} ECGs in chunks of {job.chunk_size}, "
                f"{_RUNS_ON[runner]}.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(
                reverse("admin:pool_generationjob_change", args=[job.pk])
            )
        return form_page(
            self,
            request,
            "Generate synthetic ECGs",
            form,
            "admin/pool/generationjob/generate_form.html",
            extra_context,
        )


@admin.register(SyntheticSource)
class SyntheticSourceAdmin(admin.ModelAdmin):
    """Generators whose ECGs are in the pool; "add" imports a published set."""

    list_display = ("label", "kind", "citation", "checkpoint_short", "records_link")
    list_filter = ("kind",)
    search_fields = ("name", "version", "citation")
    fields = ("name", "version", "kind", "citation", "checkpoint_sha256", "created_at")
    readonly_fields = ("name", "version", "kind", "checkpoint_sha256", "created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_records=Count("records"))

    @admin.display(description="source", ordering="name")
    def label(self, obj: SyntheticSource) -> str:
        return obj.label

    @admin.display(description="checkpoint")
    def checkpoint_short(self, obj: SyntheticSource) -> str:
        return obj.checkpoint_sha256[:12] or "-"

    @admin.display(description="ECGs", ordering="n_records")
    def records_link(self, obj: SyntheticSource) -> str:
        url = reverse("admin:pool_ecgrecord_changelist")
        return format_html(
            '<a href="{}?synthetic_source__id__exact={}">{}</a>',
            url,
            obj.pk,
            obj.n_records,
        )

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SyntheticImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                source, summary = synthetic_import_upload(
                    signals=form.cleaned_data["signals"],
                    labels=form.cleaned_data["labels"],
                    **form.import_arguments(),
                )
            except SyntheticImportError as exc:
                form.add_error(None, str(exc))
            else:
                failed = "; ".join(f"{r}: {why}" for r, why in summary.failed[:5])
                self.message_user(
                    request,
                    f"{summary.imported} synthetic ECGs imported as "
                    f"{source.label if source else '-'}, {len(summary.skipped)} "
                    f"already in the pool, {len(summary.failed)} failed"
                    + (f" ({failed})" if failed else "")
                    + ".",
                    messages.SUCCESS if source else messages.WARNING,
                )
                return HttpResponseRedirect(
                    reverse("admin:pool_syntheticsource_changelist")
                )
        return form_page(
            self,
            request,
            "Import a synthetic set",
            form,
            "admin/pool/syntheticsource/import_form.html",
            extra_context,
        )


def _figure(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@admin.register(GeneratorEvaluation)
class GeneratorEvaluationAdmin(admin.ModelAdmin):
    """Figures of each checkpoint, next to the ECGs generated from it."""

    list_display = (
        "__str__",
        "created_at",
        "two_sample_auc",
        "memorised",
        "tstr_af",
        "spectrum",
        "pool_records",
    )
    fields = (
        "checkpoint_path",
        "checkpoint_sha256",
        "created_at",
        "seconds",
        "parameters",
        "headline_table",
        "summary_link",
        "pool_records",
    )
    readonly_fields = fields

    @admin.display(description="two-sample AUC (0.5 ideal)")
    def two_sample_auc(self, obj) -> str:
        return _figure(obj.headline.get("two_sample_auc"))

    @admin.display(description="memorised")
    def memorised(self, obj) -> str:
        h = obj.headline
        expected = h.get("memorised_if_novel")
        if expected is None:
            return str(h.get("memorised", "-"))
        return f"{h.get('memorised', '-')} (new patients: ~{expected:.1f})"

    @admin.display(description="AF TSTR F1 (TRTR)")
    def tstr_af(self, obj) -> str:
        h = obj.headline
        return (
            f"{_figure(h.get('tstr_af_f1'))} ({_figure(h.get('trtr_af_f1'))}), "
            f"{h.get('n_af_test', '-')} real AF"
        )

    @admin.display(description="spectrum distance")
    def spectrum(self, obj) -> str:
        return _figure(obj.headline.get("spectrum_distance"))

    @admin.display(description="ECGs in the pool from this checkpoint")
    def pool_records(self, obj) -> str:
        count = EcgRecord.objects.filter(
            generation_job__checkpoint_sha256=obj.checkpoint_sha256
        ).count()
        jobs = GenerationJob.objects.filter(checkpoint_sha256=obj.checkpoint_sha256)
        url = reverse("admin:pool_ecgrecord_changelist")
        query = "&".join(f"generation_job__id__exact={job.pk}" for job in jobs[:1])
        return (
            format_html('<a href="{}?{}">{}</a>', url, query, count) if count else "0"
        )

    @admin.display(description="headline")
    def headline_table(self, obj) -> str:
        return format_html_join(
            "",
            "<div>{}: <b>{}</b></div>",
            ((key, value) for key, value in obj.headline.items()),
        )

    @admin.display(description="summary")
    def summary_link(self, obj) -> str:
        url = reverse("admin:pool_generatorevaluation_summary", args=[obj.pk])
        return format_html(
            '<a href="{}" target="_blank">Open the summary with its plots</a>', url
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/summary.html",
                self.admin_site.admin_view(self.summary_view),
                name="pool_generatorevaluation_summary",
            ),
            *super().get_urls(),
        ]

    def summary_view(self, request, pk: int) -> HttpResponse:
        evaluation = get_object_or_404(GeneratorEvaluation, pk=pk)
        if not self.has_view_permission(request, evaluation):
            raise PermissionDenied
        with evaluation.summary.open("rb") as handle:
            return HttpResponse(handle.read(), content_type="text/html; charset=utf-8")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
