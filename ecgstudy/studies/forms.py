"""Forms: a reader's answers to a case; the researcher's study and reader forms."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from django import forms
from django.contrib.auth import get_user_model
from django.forms.models import BaseInlineFormSet

from ecgstudy.pool.models import Origin
from ecgstudy.studies.models import (
    Design,
    Quality,
    Reader,
    SheetLayout,
    Side,
    Study,
    default_diagnoses,
)
from ecgstudy.studies.services import Answers, design_problems

MALFORMED = "malformed"  # the code of errors no case page can cause

MAX_COMMENT_CHARS = 2000  # the textarea's maxlength; longer is a script's
MAX_DISPLAY_CHARS = 500  # longer display settings are ignored
MAX_DISPLAY_POST_CHARS = 2000  # longer than any viewer sends: a script's, refused
MAX_CHOICE_CHARS = 100  # a refused answer's choice values kept for its page
GAINS_MM_MV = (5, 10, 20)
MAX_ZOOM = 8
QUESTION_FIELDS = (
    "ask_origin",
    "ask_confidence",
    "confidence_levels",
    "ask_diagnosis",
    "diagnosis_options",
    "diagnosis_multiple",
    "ask_quality",
    "ask_comment",
    "layout",
    "reader_may_change_layout",
)
DESIGN_FIELDS = (
    "design",
    "exposure_ms",
    "staircase",
    "exposure_min_ms",
    "exposure_max_ms",
    "exposure_step",
)
CASE_MIX_FIELDS = ("seed", "repeat_fraction", "practice_cases", "reveal_ratio")
BLINDING_FIELDS = ("audit_max_auc",)
# Keyboard keys belong to the question and the option's value, never to the
# option list's order or wording, so a key means the same in every study. No key is
# shared between questions; the digits are the confidence scale; the viewer owns
# + = - 0 and Escape, the form Enter.
ORIGIN_KEYS = {Origin.REAL: "r", Origin.SYNTHETIC: "s"}
# Paired pages ask no diagnosis, so the two home-row keys under the index
# fingers can mean left and right there, as in the psychophysics lab.
CHOICE_KEYS = {Side.LEFT: "f", Side.RIGHT: "j"}
QUALITY_KEYS = {Quality.GOOD: "g", Quality.ACCEPTABLE: "u", Quality.POOR: "x"}
DIAGNOSIS_KEYS = {
    "AF": "a",
    "AFL": "l",
    "SR": "n",
    "SB": "b",
    "STACH": "t",
    "SA": "y",
    "PACED": "p",
    "OTHER": "o",
    "NORM": "k",
    "MI": "i",
    "STTC": "w",
    "CD": "c",
    "HYP": "h",
}
# Codes outside the table take these, in the order the study lists them.
SPARE_DIAGNOSIS_KEYS = "dejmqvz"


def diagnosis_keys(codes: list[str]) -> list[str]:
    """The key of each diagnosis code: from the fixed table (case-insensitive), then
    a spare letter in list order for codes outside it, "" once the spares run out."""
    spares = iter(SPARE_DIAGNOSIS_KEYS)
    return [DIAGNOSIS_KEYS.get(code.upper()) or next(spares, "") for code in codes]


@dataclass(frozen=True)
class Option:
    value: str
    text: str
    key: str  # keyboard shortcut, "" if none is free


@dataclass(frozen=True)
class Question:
    name: str
    text: str
    kind: str  # "radio", "checkbox" or "text"
    options: tuple[Option, ...] = ()
    hint: str = ""  # e.g. "choose all that apply"


def study_questions(study: Study) -> list[Question]:
    """The questions of a study, in page order, with their keyboard shortcuts.

    Depends on the study alone, so every case page of a study is the same form.
    A paired study asks which of the two ECGs is real, how sure the reader is
    and for a comment: a diagnosis or a quality would be of one of two sheets.
    """
    if study.design == Design.PAIRED_2AFC:
        return _paired_questions(study)
    questions = []
    if study.ask_origin:
        questions.append(
            Question(
                "origin",
                "Is this ECG real or synthetic?",
                "radio",
                tuple(
                    Option(value, text, ORIGIN_KEYS[value])
                    for value, text in Origin.choices
                ),
            )
        )
        if study.ask_confidence:
            questions.append(_confidence_question(study))
    if study.ask_diagnosis:
        codes = [code for code, _ in study.diagnosis_options]
        multiple = study.diagnosis_multiple
        questions.append(
            Question(
                "diagnosis",
                "Diagnosis",
                "checkbox" if multiple else "radio",
                tuple(
                    Option(code, text, key)
                    for (code, text), key in zip(
                        study.diagnosis_options, diagnosis_keys(codes), strict=True
                    )
                ),
                hint="choose all that apply" if multiple else "choose one",
            )
        )
    if study.ask_quality:
        questions.append(
            Question(
                "quality",
                "Signal quality",
                "radio",
                tuple(
                    Option(value, text, QUALITY_KEYS[value])
                    for value, text in Quality.choices
                ),
            )
        )
    if study.ask_comment:
        questions.append(Question("comment", "Comment (optional)", "text"))
    return questions


def _confidence_question(study: Study) -> Question:
    n = study.confidence_levels
    texts = {1: "guess", n: "certain"}
    return Question(
        "confidence",
        "How sure are you?",
        "radio",
        tuple(
            Option(str(level), texts.get(level, ""), str(level))
            for level in range(1, n + 1)
        ),
    )


def _paired_questions(study: Study) -> list[Question]:
    questions = [
        Question(
            "choice",
            "Which one is real?",
            "radio",
            tuple(
                Option(value, text, CHOICE_KEYS[value]) for value, text in Side.choices
            ),
        )
    ]
    if study.ask_confidence:
        questions.append(_confidence_question(study))
    if study.ask_comment:
        questions.append(Question("comment", "Comment (optional)", "text"))
    return questions


def display_settings(raw: str, *, study: Study) -> dict:
    """The allow-listed display settings the viewer reported with an answer.

    The value is the page's word, not the reader's answer: anything unknown,
    malformed or out of range is left out rather than stored or refused, so a
    broken script never costs an answer.
    """
    if not raw or len(raw) > MAX_DISPLAY_CHARS:
        return {}
    try:
        reported = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(reported, dict):
        return {}
    allowed_layouts = (
        set(SheetLayout.values) if study.reader_may_change_layout else {study.layout}
    )
    settings = {}
    layout = reported.get("layout")
    if isinstance(layout, str) and layout in allowed_layouts:
        settings["layout"] = layout
    gain = reported.get("gain")
    if type(gain) in (int, float) and gain in GAINS_MM_MV:
        settings["gain"] = int(gain)
    zoom = reported.get("zoom")
    if type(zoom) in (int, float) and math.isfinite(zoom) and 1 <= zoom <= MAX_ZOOM:
        settings["zoom"] = round(float(zoom), 2)
    for flag in ("calipers", "voltage"):
        if isinstance(reported.get(flag), bool):
            settings[flag] = reported[flag]
    return settings


@dataclass(frozen=True)
class QuestionRow:
    """A question as the case page shows it, with what the reader has chosen."""

    question: Question
    selected: frozenset[str]
    errors: list[str]
    text: str = ""


class AnswerTextField(forms.CharField):
    """Text as its textarea counted it: a browser sends each line break as CRLF,
    but the textarea's maxlength counts it as one character."""

    def to_python(self, value):
        return super().to_python(value).replace("\r\n", "\n")


class JudgmentForm(forms.Form):
    """The answers to one case; only the study's questions, each within its choices."""

    error_css_class = "has-error"

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        self.study = study
        self.questions = study_questions(study)
        for question in self.questions:
            choices = [(o.value, o.text or o.value) for o in question.options]
            if question.kind == "checkbox":
                field = forms.MultipleChoiceField(choices=choices)
            elif question.kind == "radio":
                field = forms.ChoiceField(choices=choices)
            else:
                field = AnswerTextField(
                    required=False, max_length=MAX_COMMENT_CHARS, strip=True
                )
            field.error_messages["required"] = "Please answer this question."
            self.fields[question.name] = field
        # Filled in by the viewer on submit; never required, never an error.
        self.fields["display"] = forms.CharField(
            required=False,
            max_length=MAX_DISPLAY_POST_CHARS,
            widget=forms.HiddenInput,
            strip=True,
        )

    def clean_display(self) -> dict:
        return display_settings(self.cleaned_data.get("display", ""), study=self.study)

    def clean(self):
        data = super().clean()
        allowed = set(self.fields) | {"csrfmiddlewaretoken"}
        unexpected = sorted(set(self.data) - allowed)
        if unexpected:
            raise forms.ValidationError(
                "This study does not ask: " + ", ".join(unexpected[:5]) + ".",
                code=MALFORMED,
            )
        for question in self.questions:
            values = self.data.getlist(question.name)
            if question.kind != "checkbox" and len(values) > 1:
                problem = "Give one answer to this question."
            elif len(values) != len(set(values)):
                problem = "Give each answer once."
            else:
                continue
            error = forms.ValidationError(problem, code=MALFORMED)
            self.add_error(question.name, error)
        return data

    def is_malformed(self) -> bool:
        """Whether the errors are ones no case page can cause (a question the study
        does not ask, an answer given twice, a value not offered, text longer than
        the page lets one type): a script's, not a reader's, refused outright
        rather than shown again."""
        codes = {MALFORMED, "invalid_choice", "max_length"}
        return any(
            error.code in codes
            for errors in self.errors.as_data().values()
            for error in errors
        )

    def refused_data(self) -> dict[str, list[str]]:
        """The posted answers to show again after a refusal, bounded whatever was
        sent: the form's own fields only, as many values as the field takes, each
        cut to its limit."""
        kept = {}
        for name, field in self.fields.items():
            values = self.data.getlist(name)
            if not values:
                continue
            taken = (
                len(field.choices)
                if isinstance(field, forms.MultipleChoiceField)
                else 1
            )
            limit = getattr(field, "max_length", None) or MAX_CHOICE_CHARS
            kept[name] = [str(value)[:limit] for value in values[:taken]]
        return kept

    def rows(self) -> list[QuestionRow]:
        rows = []
        for question in self.questions:
            chosen = self.data.getlist(question.name) if self.is_bound else []
            rows.append(
                QuestionRow(
                    question=question,
                    selected=frozenset(chosen),
                    errors=list(self.errors.get(question.name, []))
                    if self.is_bound
                    else [],
                    text=chosen[0] if chosen and question.kind == "text" else "",
                )
            )
        return rows

    def answers(self) -> Answers:
        data = self.cleaned_data
        diagnosis = data.get("diagnosis", ())
        if isinstance(diagnosis, str):
            diagnosis = (diagnosis,)
        confidence = data.get("confidence")
        return Answers(
            origin=data.get("origin", ""),
            choice=data.get("choice", ""),
            confidence=int(confidence) if confidence else None,
            diagnosis=tuple(diagnosis),
            quality=data.get("quality", ""),
            comment=data.get("comment", ""),
            display=data.get("display") or {},
        )


class DiagnosisOptionsField(forms.CharField):
    """One option per line, ``CODE: text``; edited as text, stored as [[code, text]]."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 60})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(f"{code}: {text}" for code, text in value)
        return value

    def to_python(self, value):
        options = []
        for number, line in enumerate((value or "").splitlines(), start=1):
            if not line.strip():
                continue
            code, sep, text = line.partition(":")
            code, text = code.strip(), text.strip()
            if not sep or not code or not text:
                raise forms.ValidationError(
                    f"line {number}: write 'CODE: text', e.g. 'AF: Atrial fibrillation'"
                )
            options.append([code, text])
        codes = [code for code, _ in options]
        if len(set(codes)) != len(codes):
            raise forms.ValidationError("each code may appear only once")
        return options


class StudyAdminForm(forms.ModelForm):
    layout = forms.ChoiceField(
        label="Sheet layout",
        choices=SheetLayout.choices,
        required=False,
        initial=SheetLayout.STANDARD,
        help_text="How the viewer first arranges the leads on every case "
        "(left empty: 3x4 with a lead II rhythm strip).",
    )
    diagnosis_options = DiagnosisOptionsField(
        required=False,
        initial=default_diagnoses,
        help_text="One per line, 'CODE: text'. A code that names a rhythm of the pool "
        "(SR, AF, AFL, SB, STach, SA, PACED, other) is scored against the case.",
    )

    class Meta:
        model = Study
        fields = [
            "name",
            "instructions",
            *QUESTION_FIELDS,
            *DESIGN_FIELDS,
            *CASE_MIX_FIELDS,
            *BLINDING_FIELDS,
            "show_feedback",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Left empty (or not sent, as by forms made before designs existed), a
        # design field takes its default: one ECG at a time.
        for name in DESIGN_FIELDS:
            if name in self.fields:
                self.fields[name].required = False

    def clean_layout(self) -> str:
        return self.cleaned_data.get("layout") or SheetLayout.STANDARD

    def clean(self):
        data = super().clean()
        for name in DESIGN_FIELDS:
            if name in self.fields and data.get(name) in (None, ""):
                data[name] = Study._meta.get_field(name).get_default()
        if data.get("ask_diagnosis") and not data.get("diagnosis_options"):
            self.add_error("diagnosis_options", "Give at least one option.")
        for name, problem in design_problems(data).items():
            self.add_error(name, problem)
        return data


class ReaderAddForm(forms.Form):
    """A new reader: an existing user, or a new one who gets an invitation link."""

    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        help_text="An existing ordinary (non-staff, active) user; leave empty to "
        "create a new one below.",
    )
    username = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    site = forms.CharField(max_length=100, required=False)
    experience = forms.CharField(
        max_length=100,
        required=False,
        help_text="e.g. resident, cardiologist, electrophysiologist.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = (
            get_user_model()
            .objects.filter(
                reader__isnull=True, is_staff=False, is_superuser=False, is_active=True
            )
            .order_by("username")
        )

    def clean(self):
        data = super().clean()
        if bool(data.get("user")) == bool(data.get("username")):
            raise forms.ValidationError(
                "Choose an existing user or give a username for a new one (not both)."
            )
        return data


class ReaderChangeForm(forms.ModelForm):
    class Meta:
        model = Reader
        fields = ["site", "experience"]


class CaseQuotaFormSet(BaseInlineFormSet):
    """The case-mix rows of a study: no two rows of one origin, rhythm and source.

    The database's unique constraints on rows are conditional (a row names a
    dataset, a generator or neither), which the formset does not check across
    its forms; this does, so that a duplicate row is an error on the page.
    """

    def clean(self):
        super().clean()
        seen = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not data.get("origin"):
                continue
            source = data.get("synthetic_source")
            key = (
                data.get("origin"),
                data.get("rhythm"),
                data.get("dataset") or "",
                source.pk if source is not None else None,
            )
            if key in seen:
                raise forms.ValidationError(
                    "two case-mix rows name the same origin, rhythm and source; "
                    "give one row the sum of their counts"
                )
            seen.add(key)
