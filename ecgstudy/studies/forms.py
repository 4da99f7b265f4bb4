"""Forms: a reader's answers to a case; the researcher's study and reader forms."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib.auth import get_user_model

from ecgstudy.pool.models import Origin
from ecgstudy.studies.models import Quality, Reader, Study, default_diagnoses
from ecgstudy.studies.services import Answers

MAX_COMMENT_CHARS = 2000
QUESTION_FIELDS = (
    "ask_origin",
    "ask_confidence",
    "confidence_levels",
    "ask_diagnosis",
    "diagnosis_options",
    "diagnosis_multiple",
    "ask_quality",
    "ask_comment",
)
CASE_MIX_FIELDS = ("seed", "repeat_fraction", "practice_cases", "reveal_ratio")
BLINDING_FIELDS = ("audit_max_auc",)
ORIGIN_KEYS = {Origin.REAL: "r", Origin.SYNTHETIC: "s"}
# Keys the viewer or the browser own; never given to an answer.
RESERVED_KEYS = set("rs")


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


def _letter_keys(labels: list[str], taken: set[str]) -> list[str]:
    """A free letter for each label, preferring the initials of its words."""
    keys = []
    for label in labels:
        words = label.lower().split()
        candidates = [w[0] for w in words if w] + list(label.lower())
        key = next((c for c in candidates if c.isalpha() and c not in taken), "")
        taken.add(key)
        keys.append(key)
    return keys


def study_questions(study: Study) -> list[Question]:
    """The questions of a study, in page order, with their keyboard shortcuts.

    Depends on the study alone, so every case page of a study is the same form.
    """
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
            n = study.confidence_levels
            texts = {1: "guess", n: "certain"}
            questions.append(
                Question(
                    "confidence",
                    "How sure are you?",
                    "radio",
                    tuple(
                        Option(str(level), texts.get(level, ""), str(level))
                        for level in range(1, n + 1)
                    ),
                )
            )
    taken = set(RESERVED_KEYS)
    if study.ask_diagnosis:
        texts = [text for _, text in study.diagnosis_options]
        keys = _letter_keys(texts, taken)
        questions.append(
            Question(
                "diagnosis",
                "Diagnosis" + (" (all that apply)" if study.diagnosis_multiple else ""),
                "checkbox" if study.diagnosis_multiple else "radio",
                tuple(
                    Option(code, text, key)
                    for (code, text), key in zip(
                        study.diagnosis_options, keys, strict=True
                    )
                ),
            )
        )
    if study.ask_quality:
        keys = _letter_keys([text for _, text in Quality.choices], taken)
        questions.append(
            Question(
                "quality",
                "Signal quality",
                "radio",
                tuple(
                    Option(value, text, key)
                    for (value, text), key in zip(Quality.choices, keys, strict=True)
                ),
            )
        )
    if study.ask_comment:
        questions.append(Question("comment", "Comment (optional)", "text"))
    return questions


@dataclass(frozen=True)
class QuestionRow:
    """A question as the case page shows it, with what the reader has chosen."""

    question: Question
    selected: frozenset[str]
    errors: list[str]
    text: str = ""


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
                field = forms.CharField(
                    required=False, max_length=MAX_COMMENT_CHARS, strip=True
                )
            field.error_messages["required"] = "Please answer this question."
            self.fields[question.name] = field

    def clean(self):
        data = super().clean()
        allowed = set(self.fields) | {"csrfmiddlewaretoken"}
        unexpected = sorted(set(self.data) - allowed)
        if unexpected:
            raise forms.ValidationError(
                "This study does not ask: " + ", ".join(unexpected[:5]) + "."
            )
        for question in self.questions:
            values = self.data.getlist(question.name)
            if question.kind != "checkbox" and len(values) > 1:
                self.add_error(question.name, "Give one answer to this question.")
            elif len(values) != len(set(values)):
                self.add_error(question.name, "Give each answer once.")
        return data

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
            confidence=int(confidence) if confidence else None,
            diagnosis=tuple(diagnosis),
            quality=data.get("quality", ""),
            comment=data.get("comment", ""),
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
            *CASE_MIX_FIELDS,
            *BLINDING_FIELDS,
            "show_feedback",
        ]

    def clean(self):
        data = super().clean()
        if data.get("ask_diagnosis") and not data.get("diagnosis_options"):
            self.add_error("diagnosis_options", "Give at least one option.")
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
