"""Researchers' side of the studies: set up, launch, watch progress, close."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ecgstudy.studies.forms import (
    BLINDING_FIELDS,
    CASE_MIX_FIELDS,
    DESIGN_FIELDS,
    QUESTION_FIELDS,
    CaseQuotaFormSet,
    ReaderAddForm,
    ReaderChangeForm,
    StudyAdminForm,
)
from ecgstudy.studies.models import (
    CaseQuota,
    Invitation,
    Judgment,
    Participation,
    Reader,
    Study,
    StudyCase,
)
from ecgstudy.studies.selectors import (
    case_answers,
    diagnosis_text,
    record_provenance,
    skipped_assignments,
    study_candidate_records,
    study_cases_for_review,
    study_progress,
    study_ratio,
    with_progress,
)
from ecgstudy.studies.services import (
    invitation_create,
    participation_create,
    reader_add,
    reader_invite,
    study_audit_blinding,
    study_close,
    study_launch,
    study_launch_problems,
)

STUDY_PAGE_NAMES = {"audit": "Blinding audit"}  # breadcrumbs other than Page


def _invitation_link(request, token: str) -> str:
    return request.build_absolute_uri(reverse("studies:invitation", args=[token]))


def _progress_bar(answered: int, total: int) -> str:
    percent = round(100 * answered / total) if total else 0
    return format_html(
        '<span class="progress-cell"><progress max="{}" value="{}"></progress> '
        "{} / {} ({}%)</span>",
        total,
        answered,
        answered,
        total,
        percent,
    )


class CaseQuotaInline(admin.TabularInline):
    model = CaseQuota
    formset = CaseQuotaFormSet
    fields = ("origin", "rhythm", "dataset", "synthetic_source", "count")
    extra = 0
    verbose_name_plural = (
        "case mix (drawn from the pool at launch; a row may name a real dataset or "
        "a generator, making the study's arms)"
    )

    def _editable(self, obj) -> bool:
        return obj is None or obj.is_draft

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


class ParticipationInline(admin.TabularInline):
    model = Participation
    extra = 0
    fields = ("reader", "site", "experience", "seed", "progress")
    readonly_fields = ("site", "experience", "seed", "progress")
    autocomplete_fields = ("reader",)

    @admin.display(description="site")
    def site(self, obj):
        return obj.reader.site if obj.pk else "-"

    @admin.display(description="experience")
    def experience(self, obj):
        return obj.reader.experience if obj.pk else "-"

    def get_queryset(self, request):
        return with_progress(super().get_queryset(request).select_related("reader"))

    @admin.display(description="progress")
    def progress(self, obj):
        if not obj.pk:
            return "-"
        return _progress_bar(obj.n_answered, obj.n_total)

    def has_change_permission(self, request, obj=None):
        # Readers are added or removed, never swapped: their answers follow them.
        return False

    def has_add_permission(self, request, obj=None):
        open_ = obj is None or obj.status != Study.Status.CLOSED
        return open_ and super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        draft = obj is None or obj.is_draft
        return draft and super().has_delete_permission(request, obj)


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    form = StudyAdminForm
    list_display = ("name", "status", "cases", "readers", "progress", "launched_at")
    list_filter = ("status",)
    search_fields = ("name",)
    inlines = (CaseQuotaInline, ParticipationInline)
    fieldsets = (
        (None, {"fields": ("name", "instructions", "status_display")}),
        ("Questions", {"fields": QUESTION_FIELDS}),
        (
            "Design",
            {
                "fields": DESIGN_FIELDS,
                "description": "One ECG per page; or a real and a synthetic ECG of "
                "one rhythm side by side (which is real?); or one ECG shown for a "
                "set time, fixed or set by each reader's practice staircase.",
            },
        ),
        (
            "Case mix and order",
            {
                "fields": CASE_MIX_FIELDS,
                "description": "Cases are drawn per row of the case mix below with "
                "the seed; each reader's order comes from their own stored seed.",
            },
        ),
        (
            "Blinding audit",
            {
                "fields": BLINDING_FIELDS,
                "description": "Before launch, the audit measures how well the "
                "bytes readers will receive tell real from synthetic.",
            },
        ),
        ("After the last case", {"fields": ("show_feedback",)}),
    )

    @admin.display(description="status")
    def status_display(self, obj):
        if obj is None or obj.pk is None:
            return "Draft"
        when = obj.closed_at or obj.launched_at
        suffix = f" ({when:%Y-%m-%d %H:%M} UTC)" if when else ""
        return f"{obj.get_status_display()}{suffix}"

    @admin.display(description="cases")
    def cases(self, obj):
        real, synthetic = study_ratio(study=obj)
        return f"{real} real + {synthetic} synthetic"

    @admin.display(description="readers")
    def readers(self, obj):
        return obj.n_readers

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related("quotas")  # the "cases" column
            .annotate(
                n_readers=Count("participations", distinct=True),
                n_total=Count("participations__assignments", distinct=True)
                - Count(
                    "participations__assignments",
                    filter=skipped_assignments("participations__assignments__"),
                    distinct=True,
                ),
                n_answered=Count(
                    "participations__assignments__judgment", distinct=True
                ),
            )
        )

    @admin.display(description="progress")
    def progress(self, obj):
        if obj.is_draft:
            return "-"
        return _progress_bar(obj.n_answered, obj.n_total)

    def get_readonly_fields(self, request, obj=None):
        if obj is None or obj.is_draft:
            return ("status_display",)
        return (
            "status_display",
            "diagnoses",
            *QUESTION_FIELDS,
            *DESIGN_FIELDS,
            *CASE_MIX_FIELDS,
            *BLINDING_FIELDS,
        )

    def get_fieldsets(self, request, obj=None):
        if obj is None or obj.is_draft:
            return self.fieldsets
        # Frozen: the options as a list rather than as their stored JSON.
        swap = {"diagnosis_options": "diagnoses"}
        return [
            (name, {**options, "fields": [swap.get(f, f) for f in options["fields"]]})
            for name, options in self.fieldsets
        ]

    @admin.display(description="diagnosis options")
    def diagnoses(self, obj):
        return format_html_join(
            "", "<div><code>{}</code> {}</div>", obj.diagnosis_options
        )

    def has_delete_permission(self, request, obj=None):
        # A launched study holds answers; close it instead.
        draft = obj is None or obj.is_draft
        return draft and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Participation:
            return super().save_formset(request, form, formset, change)
        # New readers go through the service, which stores their order if the study
        # is already launched.
        new = [p for p in formset.save(commit=False) if p.pk is None]
        for deleted in formset.deleted_objects:
            deleted.delete()
        for participation in new:
            try:
                participation_create(study=form.instance, reader=participation.reader)
            except ValidationError as exc:
                messages.error(request, "; ".join(exc.messages))

    def get_urls(self):
        extra = [
            path(
                "<int:pk>/launch/",
                self.admin_site.admin_view(self.launch_view),
                name="studies_study_launch",
            ),
            path(
                "<int:pk>/audit/",
                self.admin_site.admin_view(self.audit_view),
                name="studies_study_audit",
            ),
            path(
                "<int:pk>/close/",
                self.admin_site.admin_view(self.close_view),
                name="studies_study_close",
            ),
            path(
                "<int:pk>/report/",
                self.admin_site.admin_view(self.report_view),
                name="studies_study_report",
            ),
            path(
                "<int:pk>/report/download.<str:fmt>",
                self.admin_site.admin_view(self.report_file_view),
                name="studies_study_report_file",
            ),
            path(
                "report/plotly.js",
                self.admin_site.admin_view(self.plotly_view),
                name="studies_study_plotly",
            ),
            path(
                "<int:pk>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="studies_study_progress",
            ),
        ]
        return [*extra, *super().get_urls()]

    def _study(self, request, pk: int, *, change: bool) -> Study:
        study = get_object_or_404(Study, pk=pk)
        allowed = (
            self.has_change_permission(request, study)
            if change
            else self.has_view_permission(request, study)
        )
        if not allowed:
            raise PermissionDenied
        return study

    def _study_page(
        self, request, study: Study, page: str, title: str, **context
    ) -> TemplateResponse:
        """One of the pages about a study (launch, close, report, progress,
        audit); the breadcrumb names it."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "study": study,
            "page": STUDY_PAGE_NAMES.get(page, page.capitalize()),
            **context,
        }
        return TemplateResponse(request, f"admin/studies/study/{page}.html", context)

    def _change_url(self, study: Study) -> str:
        return reverse("admin:studies_study_change", args=[study.pk])

    def launch_view(self, request, pk: int):
        study = self._study(request, pk, change=True)
        if request.method == "POST":
            try:
                study_launch(study=study)
            except ValidationError as exc:
                for problem in exc.messages:
                    messages.error(request, f"Not launched: {problem}")
            else:
                messages.success(
                    request,
                    f"“{study}” is launched: its cases and every reader's order are "
                    "stored, and readers can start.",
                )
                return HttpResponseRedirect(
                    reverse("admin:studies_study_progress", args=[study.pk])
                )
            return HttpResponseRedirect(self._change_url(study))
        real, synthetic = study_ratio(study=study)
        return self._study_page(
            request,
            study,
            "launch",
            f"Launch “{study}”?",
            problems=study_launch_problems(study=study),
            real=real,
            synthetic=synthetic,
            n_readers=study.participations.count(),
            audit=study.audits.first(),
        )

    def audit_view(self, request, pk: int):
        """GET: the latest blinding audit; POST: run a new one (a researcher's
        change permission), then show it."""
        study = self._study(request, pk, change=request.method == "POST")
        if request.method == "POST":
            try:
                study_audit_blinding(study=study, created_by=request.user)
            except ValidationError as exc:
                for problem in exc.messages:
                    messages.error(request, f"No audit: {problem}")
            return HttpResponseRedirect(
                reverse("admin:studies_study_audit", args=[study.pk])
            )
        return self._study_page(
            request,
            study,
            "audit",
            f"Blinding audit of “{study}”",
            audit=study.audits.first(),
            n_candidates=study_candidate_records(study=study).count(),
        )

    def close_view(self, request, pk: int):
        study = self._study(request, pk, change=True)
        if request.method != "POST":
            _, overall = study_progress(study=study)
            return self._study_page(
                request, study, "close", f"Close “{study}”?", overall=overall
            )
        try:
            study_close(study=study)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        else:
            messages.success(
                request, f"“{study}” is closed; readers can no longer answer."
            )
        return HttpResponseRedirect(self._change_url(study))

    def report_view(self, request, pk: int):
        from ecgstudy.analysis.exports import report_html, study_report

        study = self._study(request, pk, change=False)
        report = study_report(study=study)
        return self._study_page(
            request,
            study,
            "report",
            f"Report of “{study}”",
            body=mark_safe(report_html(report=report, standalone=False)),
        )

    def report_file_view(self, request, pk: int, fmt: str):
        from ecgstudy.analysis import exports

        study = self._study(request, pk, change=False)
        if fmt == "csv":
            content, kind = exports.judgments_csv(study=study), "text/csv"
        elif fmt == "json":
            content = exports.report_json(exports.study_report(study=study))
            kind = "application/json"
        elif fmt == "html":
            report = exports.study_report(study=study)
            content = exports.report_html(report=report, standalone=True)
            kind = "text/html"
        else:
            raise Http404("formats: html, json, csv")
        response = HttpResponse(content, content_type=f"{kind}; charset=utf-8")
        name = "judgments" if fmt == "csv" else "report"
        response["Content-Disposition"] = (
            f'attachment; filename="study-{study.pk}-{name}.{fmt}"'
        )
        return response

    def plotly_view(self, request):
        from ecgstudy.analysis.exports import plotly_js

        if not self.has_view_permission(request):
            raise PermissionDenied
        response = HttpResponse(plotly_js(), content_type="text/javascript")
        response["Cache-Control"] = "private, max-age=86400"
        return response

    def progress_view(self, request, pk: int):
        study = self._study(request, pk, change=False)
        rows, overall = study_progress(study=study)
        return self._study_page(
            request,
            study,
            "progress",
            f"Progress of “{study}”",
            rows=rows,
            overall=overall,
        )


@admin.register(Reader)
class ReaderAdmin(admin.ModelAdmin):
    list_display = ("__str__", "full_name", "email", "site", "experience", "account")
    list_filter = ("site", "experience")
    search_fields = ("user__username", "user__first_name", "user__last_name", "site")
    form = ReaderChangeForm
    actions = ("new_invitation",)

    @admin.display(description="name")
    def full_name(self, obj):
        return obj.user.get_full_name()

    @admin.display(description="email")
    def email(self, obj):
        return obj.user.email

    @admin.display(description="account")
    def account(self, obj):
        return "active" if obj.user.has_usable_password() else "invited"

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ReaderAddForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                if data["user"]:
                    reader = reader_add(
                        user=data["user"],
                        site=data["site"],
                        experience=data["experience"],
                    )
                    token = None
                else:
                    reader, token = reader_invite(
                        invited_by=request.user,
                        **{
                            key: data[key]
                            for key in (
                                "username",
                                "email",
                                "first_name",
                                "last_name",
                                "site",
                                "experience",
                            )
                        },
                    )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                self._announce(request, reader, token)
                return HttpResponseRedirect(reverse("admin:studies_reader_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Add reader",
            "form": form,
        }
        return TemplateResponse(request, "admin/studies/reader/add_form.html", context)

    def _announce(self, request, reader: Reader, token: str | None) -> None:
        if token is None:
            messages.success(request, f"{reader} can now be added to studies.")
            return
        messages.success(
            request,
            format_html(
                "Invitation for {} (works once, for 14 days, and replaces any older "
                "link; it is shown only now): "
                '<a href="{}">{}</a>',
                reader,
                _invitation_link(request, token),
                _invitation_link(request, token),
            ),
        )

    @admin.action(description="Create a new invitation link")
    def new_invitation(self, request, queryset):
        for reader in queryset.select_related("user"):
            try:
                _, token = invitation_create(reader=reader, created_by=request.user)
            except ValidationError as exc:
                self.message_user(request, exc.messages[0], messages.ERROR)
            else:
                self._announce(request, reader, token)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("reader", "created_at", "expires_at", "used_at", "created_by")
    list_filter = ("used_at",)
    fields = ("reader", "created_by", "created_at", "expires_at", "used_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


LIST_CSS = {"all": ("ecgstudy/admin-lists.css",)}


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record of what happened, to look through: nobody adds, edits or deletes."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Judgment)
class JudgmentAdmin(ReadOnlyAdmin):
    """Answers, for researchers to look through; nobody edits them."""

    list_display = (
        "submitted",
        "study",
        "reader",
        "case",
        "truth",
        "answer",
        "diagnosis_display",
        "quality",
        "seconds_display",
    )
    list_filter = ("assignment__participation__study", "origin", "quality")
    list_select_related = (
        "assignment__participation__study",
        "assignment__participation__reader__user",
        "assignment__case__record",
    )
    date_hierarchy = "submitted_at"
    readonly_fields = ("diagnosis_display", "seconds_display")

    class Media:
        css = LIST_CSS

    @admin.display(description="submitted", ordering="submitted_at")
    def submitted(self, obj):
        return f"{obj.submitted_at:%Y-%m-%d %H:%M}"

    @admin.display(description="study")
    def study(self, obj):
        return obj.assignment.participation.study

    @admin.display(description="reader")
    def reader(self, obj):
        return obj.assignment.participation.reader

    @admin.display(description="answer, conf.", ordering="origin")
    def answer(self, obj):
        origin = obj.get_origin_display() or "-"
        return origin if obj.confidence is None else f"{origin}, {obj.confidence}"

    @admin.display(description="case (round)")
    def case(self, obj):
        assignment = obj.assignment
        suffix = " (repeat)" if assignment.round != 1 else ""
        return format_html(
            '<span class="token" title="{}">{}</span>{}',
            assignment.case.token,
            assignment.case.token[:8],
            suffix,
        )

    @admin.display(description="truth")
    def truth(self, obj):
        return obj.assignment.case.record.get_origin_display()

    @admin.display(description="diagnosis")
    def diagnosis_display(self, obj):
        study = obj.assignment.participation.study
        return diagnosis_text(study=study, codes=obj.diagnosis) or "-"

    @admin.display(description="seconds", ordering="submitted_at")
    def seconds_display(self, obj):
        return _seconds(obj.seconds)


@admin.register(StudyCase)
class StudyCaseAdmin(ReadOnlyAdmin):
    """Which ECGs a study drew: each case's sheet, origin, labels, source and
    provenance, and every reader's answer. Read-only; opened from a study's page
    ("Cases"). Researchers only: it needs the view permission on study cases."""

    list_display = ("sheet", "case", "answers")
    list_filter = ("study", "record__origin", "record__rhythm", "practice")
    search_fields = ("token", "record__source_id", "record__dataset")
    list_per_page = 25
    fields = (
        "study",
        "token",
        "practice",
        "sheet",
        "truth",
        "source",
        "provenance",
        "answers",
    )
    readonly_fields = fields

    class Media:
        css = LIST_CSS

    def get_queryset(self, request):
        return study_cases_for_review().order_by("study", "pk")

    @admin.display(description="sheet")
    def sheet(self, obj):
        record = obj.record
        if not record.sheet:
            return "no sheet"
        return format_html(
            '<a href="{}"><img src="{}" alt="12-lead sheet" class="sheet-thumb" '
            'loading="lazy"></a>',
            reverse("admin:pool_ecgrecord_change", args=[record.pk]),
            reverse("admin:pool_ecgrecord_sheet", args=[record.pk]),
        )

    @admin.display(description="case", ordering="pk")
    def case(self, obj):
        """Everything about the case in one narrow column: token and study, the
        truth, the source and, for a synthetic ECG, how it was made."""
        return format_html(
            '<div class="case-facts"><span class="token" title="{}">{}</span>{} '
            '<span class="quiet">{}</span><div>{}</div><div>{}</div><div>{}</div>'
            "</div>",
            obj.token,
            obj.token[:8],
            " (practice)" if obj.practice else "",
            obj.study,
            self.truth(obj),
            self.source(obj),
            self.provenance(obj),
        )

    @admin.display(description="origin and labels")
    def truth(self, obj):
        record = obj.record
        return format_html(
            '<strong>{}</strong> {}<br><span class="quiet">{}</span>',
            record.get_origin_display(),
            record.get_rhythm_display(),
            "; ".join(record.labels) or "-",
        )

    @admin.display(description="source")
    def source(self, obj):
        record = obj.record
        return format_html(
            'record <a href="{}">{}</a>: {} / {}',
            reverse("admin:pool_ecgrecord_change", args=[record.pk]),
            record.pk,
            record.dataset,
            record.source_id,
        )

    @admin.display(description="provenance")
    def provenance(self, obj):
        facts = record_provenance(record=obj.record)
        if facts["generation_job"] is None:
            return ""
        return format_html(
            'job <a href="{}">{}</a> #{}, seed {}<br>{} {} steps, '
            '<span class="hash" title="{}">checkpoint {}</span>',
            reverse("admin:pool_generationjob_change", args=[facts["generation_job"]]),
            facts["generation_job"],
            facts["generation_index"],
            facts["generation_seed"],
            facts["sampler"],
            facts["steps"],
            facts["checkpoint_sha256"],
            facts["checkpoint_sha256"][:12],
        )

    @admin.display(description="readers' answers")
    def answers(self, obj):
        answers = case_answers(case=obj)
        if not answers:
            return "no readers"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>{}",
            (
                (
                    a.reader + (" (repeat)" if a.round != 1 else ""),
                    (a.origin or "-")
                    + ("" if a.confidence is None else f", {a.confidence}"),
                    a.diagnosis or "-",
                    a.quality or "-",
                    format_html(
                        '<tr class="comment"><td></td><td colspan="3">“{}”</td></tr>',
                        a.comment,
                    )
                    if a.comment
                    else "",
                )
                for a in answers
            ),
        )
        return format_html(
            '<table class="case-answers"><thead><tr><th>reader</th>'
            "<th>answer, conf.</th><th>diagnosis</th><th>quality</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )
