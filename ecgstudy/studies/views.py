"""The reader's pages: their studies, one case at a time, the end; invitations."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.generic import FormView, TemplateView, View

from ecgstudy.pool.services import record_sheet_ensure
from ecgstudy.studies.forms import JudgmentForm
from ecgstudy.studies.models import Design, Side
from ecgstudy.studies.pages import (
    CASE_TEMPLATE,
    case_page_context,
    page_sheet,
    record_waveform,
)
from ecgstudy.studies.selectors import (
    assignment_answered,
    assignment_records,
    case_counter,
    next_assignment,
    participation_feedback,
    participation_progress,
    practice_reveal,
    reader_assignment,
    reader_participation,
    reader_studies,
    study_ratio,
)
from ecgstudy.studies.services import (
    assignment_expose,
    assignment_serve,
    invitation_accept,
    invitation_usable,
    judgment_submit,
)


def healthz(request) -> HttpResponse:
    """For load balancers and as the floor of the load benchmark: no database."""
    return HttpResponse("ok", content_type="text/plain")


class HomeView(View):
    """Researchers go to the admin, readers to their studies."""

    def get(self, request):
        if request.user.is_authenticated and request.user.is_staff:
            return redirect("admin:index")
        return redirect("studies:list")


@method_decorator(never_cache, name="dispatch")
class StudyListView(LoginRequiredMixin, TemplateView):
    template_name = "studies/study_list.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            rows=reader_studies(user=self.request.user), **kwargs
        )


class _ParticipationMixin(LoginRequiredMixin):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.participation = reader_participation(
            user=request.user, study_id=kwargs["study_id"]
        )
        if self.participation is None:
            raise Http404("no such study")
        return super().dispatch(request, *args, **kwargs)


@method_decorator(never_cache, name="dispatch")
class StudyIntroView(_ParticipationMixin, TemplateView):
    template_name = "studies/study_intro.html"

    def get_context_data(self, **kwargs):
        study = self.participation.study
        real, synthetic = study_ratio(study=study)
        return super().get_context_data(
            study=study,
            progress=participation_progress(participation=self.participation),
            ratio=(real, synthetic) if study.reveal_ratio else None,
            n_practice=study.practice_cases,
            paired=study.design == Design.PAIRED_2AFC,
            timed=study.design == Design.TIMED,
            repeats=study.repeat_fraction > 0,
            **kwargs,
        )


class ContinueView(_ParticipationMixin, View):
    """The next unanswered case in the reader's stored order, or the end."""

    def get(self, request, study_id: int):
        assignment = next_assignment(participation=self.participation)
        if assignment is None:
            return redirect("studies:done", study_id=study_id)
        return redirect("studies:case", token=assignment.token)


@method_decorator(never_cache, name="dispatch")
class CaseView(LoginRequiredMixin, TemplateView):
    """One case: the sheet (a paired study's two) and the questions. Every case
    page of a study has the same bytes apart from the sheets, the token, the
    counter and a staircase's exposure.

    A time-limited study sends the sheet once: the first GET of the case claims
    it (``assignment_expose``); every later page of the case has the questions
    alone."""

    template_name = CASE_TEMPLATE

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.assignment = reader_assignment(user=request.user, token=kwargs["token"])
        if self.assignment is None:
            raise Http404("no such case")
        self.study = self.assignment.participation.study
        return super().dispatch(request, *args, **kwargs)

    def _continue(self):
        return redirect("studies:continue", study_id=self.study.pk)

    def _is_next(self) -> bool:
        upcoming = next_assignment(participation=self.assignment.participation)
        return upcoming is not None and upcoming.pk == self.assignment.pk

    def _sheet(self) -> bool:
        """Read the page's sheets; False if files of one are gone and the case
        skipped."""
        self.records = assignment_records(assignment=self.assignment)
        self.sheets = [record_sheet_ensure(record=r) for r in self.records]
        self.exposure_ms = None
        return all(sheet is not None for sheet in self.sheets)

    def _expose(self) -> None:
        """Time-limited studies: send the sheet only on the page that claims it."""
        if self.study.design != Design.TIMED:
            return
        self.exposure_ms = assignment_expose(assignment=self.assignment)
        if self.exposure_ms is None:
            self.records, self.sheets = [], []

    def _refused_key(self) -> str:
        return f"case-refused:{self.assignment.token}"

    def get(self, request, *args, **kwargs):
        # Answered cases are not shown again and cases are taken in order.
        if not self._is_next() or not self._sheet():
            return self._continue()
        refused = request.session.pop(self._refused_key(), None)
        if refused is None:
            assignment_serve(assignment=self.assignment)
            form = JudgmentForm(study=self.study)
        else:
            # A refused answer, shown again with its reasons after the redirect;
            # the time on the case keeps running from the first serving.
            data = QueryDict(mutable=True)
            for name, values in refused.items():
                data.setlist(name, values)
            form = JudgmentForm(data, study=self.study)
            form.is_valid()
        self._expose()
        return self.render_to_response(self.get_context_data(form=form))

    def post(self, request, *args, **kwargs):
        if not self._is_next():
            # A second submit (double click, another tab): the first answer stands.
            if assignment_answered(assignment=self.assignment):
                messages.info(
                    request,
                    "That case had already been answered; your first answer stands "
                    "and the second was not saved. Here is your current case.",
                )
            else:
                messages.info(
                    request,
                    "That answer was not saved: it was sent from a page that is not "
                    "your current case. Here is your current case.",
                )
            return self._continue()
        form = JudgmentForm(request.POST, study=self.study)
        if not form.is_valid() and form.is_malformed():
            # Only a script sends these: refuse them outright, nothing written.
            if not self._sheet():
                return self._continue()
            self._expose()
            return self.render_to_response(self.get_context_data(form=form), status=400)
        if not form.is_valid():
            # Post/Redirect/Get: the page with the reasons is served by a GET, so
            # Back or Reload never asks to send the form again.
            request.session[self._refused_key()] = form.refused_data()
            return redirect("studies:case", token=self.assignment.token)
        try:
            judgment_submit(assignment=self.assignment, answers=form.answers())
        except ValidationError:
            raise Http404("the study is closed") from None
        if self.assignment.case.practice:
            return redirect("studies:practice", token=self.assignment.token)
        return self._continue()

    def get_context_data(self, *, form, **kwargs):
        paired = self.assignment.pair_id is not None
        sheets = [
            page_sheet(
                sheet,
                record_waveform(record=record),
                record.fs,
                side=side if paired else "",
            )
            for sheet, record, side in zip(
                self.sheets, self.records, Side.values, strict=False
            )
        ]
        return super().get_context_data(
            **case_page_context(
                study=self.study,
                token=self.assignment.token,
                counter=case_counter(assignment=self.assignment),
                form=form,
                sheets=sheets,
                exposure_ms=self.exposure_ms,
            ),
            **kwargs,
        )


@method_decorator(never_cache, name="dispatch")
class PracticeRevealView(LoginRequiredMixin, TemplateView):
    """After a practice answer: what the ECG was. Never for a counted case."""

    template_name = "studies/practice.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        assignment = reader_assignment(user=request.user, token=kwargs["token"])
        self.reveal = (
            practice_reveal(assignment=assignment) if assignment is not None else None
        )
        if self.reveal is None:
            raise Http404("no such practice case")
        self.assignment = assignment
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        sheet = record_sheet_ensure(record=self.assignment.case.record)
        return super().get_context_data(
            study=self.assignment.participation.study,
            reveal=self.reveal,
            # The sheet again, beside its truth: our own renderer's output.
            sheet=mark_safe(sheet.decode()) if sheet else "",
            **kwargs,
        )


@method_decorator(never_cache, name="dispatch")
class DoneView(_ParticipationMixin, TemplateView):
    template_name = "studies/done.html"

    def get(self, request, *args, **kwargs):
        if next_assignment(participation=self.participation) is not None:
            return redirect("studies:continue", study_id=self.participation.study_id)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            study=self.participation.study,
            feedback=participation_feedback(participation=self.participation),
            **kwargs,
        )


@method_decorator(never_cache, name="dispatch")
class InvitationView(FormView):
    """A one-time link: the new reader sets a password and is logged in."""

    template_name = "studies/invitation.html"

    def dispatch(self, request, *args, **kwargs):
        self.invitation = invitation_usable(token=kwargs["token"])
        if self.invitation is None:
            return self.render_to_response({"invalid": True}, status=404)
        return super().dispatch(request, *args, **kwargs)

    def get_form(self, form_class=None):
        return SetPasswordForm(self.invitation.reader.user, **self.get_form_kwargs())

    def form_valid(self, form):
        try:
            user = invitation_accept(
                token=self.kwargs["token"], password=form.cleaned_data["new_password1"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(self.request, "Your password is set. Welcome.")
        return HttpResponseRedirect(reverse("studies:list"))

    def get_context_data(self, **kwargs):
        return super().get_context_data(reader=self.invitation.reader, **kwargs)
