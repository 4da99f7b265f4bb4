"""Reads of the studies: what a reader may open, progress, the end-of-study feedback."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, Max, Prefetch, Q

from ecgstudy.pool.models import EcgRecord, Origin
from ecgstudy.pool.selectors import drawable_records
from ecgstudy.studies.models import (
    Assignment,
    CaseQuota,
    Design,
    Judgment,
    Participation,
    Side,
    Study,
    StudyCase,
)
from ecgstudy.studies.ordering import staircase_next

OPEN = Study.Status.LAUNCHED


def skipped_assignments(prefix: str = "") -> Q:
    """Assignments readers skip: unanswered, and their ECG's files were found
    missing from storage (see ``pool.services.record_sheet_ensure``).

    ``prefix`` is the path to the assignment, e.g. "assignments__" from a
    participation.
    """
    missing = Q(**{f"{prefix}case__record__files_missing_since__isnull": False}) | Q(
        **{f"{prefix}pair__real__record__files_missing_since__isnull": False}
    )
    return Q(**{f"{prefix}judgment__isnull": True}) & missing


@dataclass(frozen=True)
class Progress:
    """Answers of a reader (or a study) out of ``total``, the assignments that can
    still be answered or were; ``skipped`` ones (ECG files missing) are apart."""

    answered: int
    total: int
    last_answer_at: datetime | None = None
    skipped: int = 0

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.total) if self.total else 0

    @property
    def finished(self) -> bool:
        return self.total > 0 and self.answered == self.total


def with_progress(participations):
    """Participations annotated with n_total, n_answered, n_skipped and
    last_answer_at; n_total leaves out the skipped assignments."""

    def n_skipped():
        return Count(
            "assignments", filter=skipped_assignments("assignments__"), distinct=True
        )

    return participations.annotate(
        n_skipped=n_skipped(),
        n_total=Count("assignments", distinct=True) - n_skipped(),
        n_answered=Count("assignments__judgment", distinct=True),
        last_answer_at=Max("assignments__judgment__submitted_at"),
    )


def _progress(participation) -> Progress:
    return Progress(
        answered=participation.n_answered,
        total=participation.n_total,
        last_answer_at=participation.last_answer_at,
        skipped=participation.n_skipped,
    )


def reader_studies(*, user) -> list[tuple[Participation, Progress]]:
    """The launched and closed studies a user reads, newest first, with progress."""
    participations = with_progress(
        Participation.objects.filter(
            reader__user=user, study__status__in=[OPEN, Study.Status.CLOSED]
        ).select_related("study")
    ).order_by("-study__launched_at")
    return [(p, _progress(p)) for p in participations]


def reader_participation(*, user, study_id: int) -> Participation | None:
    """The user's place in an open study, or None (not theirs, or not open)."""
    return (
        Participation.objects.select_related("study")
        .filter(reader__user=user, study_id=study_id, study__status=OPEN)
        .first()
    )


def reader_assignment(*, user, token: str) -> Assignment | None:
    """The user's own assignment of an open study by its token, or None."""
    return (
        Assignment.objects.select_related(
            "participation__study", "case__record", "judgment", "pair__real__record"
        )
        .filter(
            token=token,
            participation__reader__user=user,
            participation__study__status=OPEN,
        )
        .first()
    )


def assignments_to_read(*, participation: Participation):
    """The reader's unanswered assignments, but those whose ECG's files are
    missing (which every reader skips); of a pair, either ECG's."""
    return participation.assignments.filter(
        Q(pair__isnull=True) | Q(pair__real__record__files_missing_since__isnull=True),
        judgment__isnull=True,
        case__record__files_missing_since__isnull=True,
    )


def next_assignment(*, participation: Participation) -> Assignment | None:
    """The first assignment to read in the reader's stored order."""
    return assignments_to_read(participation=participation).order_by("position").first()


def assignment_records(*, assignment: Assignment) -> list[EcgRecord]:
    """The ECGs of an assignment's page in page order: its case's, or a pair's
    left then right."""
    if assignment.pair_id is None:
        return [assignment.case.record]
    real, synthetic = assignment.pair.real.record, assignment.case.record
    return [real, synthetic] if assignment.real_side == Side.LEFT else [synthetic, real]


def next_exposure_ms(*, assignment: Assignment) -> int:
    """The exposure of an assignment's sheet: the study's, or with the staircase
    the exposure the reader's practice staircase has reached.

    Only practice answers move the staircase (the practice page reveals their
    truth anyway): the last answered practice sheet's exposure, one step down if
    that answer was right, up if wrong. Counted answers never move it, so every
    counted sheet of a reader is shown for the same exposure and nothing about a
    counted answer reaches the reader through the next page.
    """
    study = assignment.participation.study
    if study.design != Design.TIMED or not study.staircase:
        return study.exposure_ms
    last = (
        Judgment.objects.filter(
            assignment__participation=assignment.participation,
            assignment__case__practice=True,
            assignment__pair__isnull=True,
            exposure_ms__isnull=False,
        )
        .exclude(origin="")
        .select_related("assignment__case__record")
        .order_by("-assignment__position")
        .first()
    )
    if last is None:
        return study.exposure_ms
    return staircase_next(
        last.exposure_ms,
        correct=last.origin == last.assignment.case.record.origin,
        factor=study.exposure_step,
        low=study.exposure_min_ms,
        high=study.exposure_max_ms,
    )


def participation_progress(*, participation: Participation) -> Progress:
    return _progress(with_progress(Participation.objects).get(pk=participation.pk))


@dataclass(frozen=True)
class CaseCounter:
    """What the case page says of the reader's place in the order."""

    practice: bool
    number: int  # 1-based, among practice cases or among counted ones
    of: int
    answered: int  # of all assignments, for the progress bar
    total: int  # without the skipped ones


def case_counter(*, assignment: Assignment) -> CaseCounter:
    counts = assignment.participation.assignments.aggregate(
        total=Count("pk"),
        practice=Count("pk", filter=Q(case__practice=True)),
        answered=Count("judgment"),
        skipped=Count("pk", filter=skipped_assignments()),
    )
    n_practice = counts["practice"]
    practice = assignment.position < n_practice
    return CaseCounter(
        practice=practice,
        number=assignment.position + 1
        if practice
        else assignment.position + 1 - n_practice,
        of=n_practice if practice else counts["total"] - n_practice,
        answered=counts["answered"],
        total=counts["total"] - counts["skipped"],
    )


def assignment_answered(*, assignment: Assignment) -> bool:
    return Judgment.objects.filter(assignment=assignment).exists()


@dataclass(frozen=True)
class PracticeReveal:
    """The truth of a practice case, shown to the reader after their answer.

    The pool's normalised rhythm and normal flag only, never the record's own
    labels: a real dataset's wording (and the generator's codes) would teach
    readers a vocabulary that tells the sources apart and would name datasets.
    """

    origin: str  # "real" or "synthetic"
    rhythm: str  # the rhythm's display name
    normal: bool | None  # None where the source says nothing
    judgment: Judgment
    answered_diagnosis: str = ""  # the reader's diagnosis, as the options name it


def practice_reveal(*, assignment: Assignment) -> PracticeReveal | None:
    """The truth of an answered practice case; None for any other case, so that
    nothing about a counted case can ever be revealed.

    None for a paired page too: the paired design has no practice cases
    (``services.design_problems`` refuses them), and a pair's truth is a side,
    not the origin of ``assignment.case``'s ECG alone.
    """
    if not assignment.case.practice or assignment.pair_id is not None:
        return None
    judgment = Judgment.objects.filter(assignment=assignment).first()
    if judgment is None:
        return None
    record = assignment.case.record
    return PracticeReveal(
        origin=record.origin,
        rhythm=record.get_rhythm_display(),
        normal=record.normal,
        judgment=judgment,
        answered_diagnosis=diagnosis_text(
            study=assignment.participation.study, codes=judgment.diagnosis
        ),
    )


def study_ratio(*, study: Study) -> tuple[int, int]:
    """(real, synthetic) counts of the study's counted cases, from its case mix."""
    real = synthetic = 0
    for quota in study.quotas.all():
        if quota.origin == Origin.REAL:
            real += quota.count
        else:
            synthetic += quota.count
    return real, synthetic


@dataclass(frozen=True)
class ReaderProgressRow:
    participation: Participation
    progress: Progress


def study_progress(*, study: Study) -> tuple[list[ReaderProgressRow], Progress]:
    """Progress of every reader of a study, and of the study as a whole."""
    rows = [
        ReaderProgressRow(participation=p, progress=_progress(p))
        for p in with_progress(
            study.participations.select_related("reader__user")
        ).order_by("reader__user__username")
    ]
    last = max(
        (r.progress.last_answer_at for r in rows if r.progress.last_answer_at),
        default=None,
    )
    overall = Progress(
        answered=sum(r.progress.answered for r in rows),
        total=sum(r.progress.total for r in rows),
        last_answer_at=last,
        skipped=sum(r.progress.skipped for r in rows),
    )
    return rows, overall


@dataclass(frozen=True)
class Feedback:
    correct: int
    answered: int

    @property
    def percent(self) -> int:
        return round(100 * self.correct / self.answered) if self.answered else 0


def participation_feedback(*, participation: Participation) -> Feedback | None:
    """Real-vs-synthetic accuracy on counted cases, if the researcher allows it."""
    study = participation.study
    if not (study.show_feedback and study.ask_origin):
        return None
    judgments = Judgment.objects.filter(
        assignment__participation=participation,
        assignment__case__practice=False,
        assignment__round=1,
    ).exclude(origin="")
    return Feedback(
        correct=judgments.filter(origin=F("assignment__case__record__origin")).count(),
        answered=judgments.count(),
    )


def quota_filter(quota: CaseQuota) -> Q:
    """The pool records a case-mix row draws from: its origin and rhythm, and
    its dataset or generator where it names one."""
    kind = Q(origin=quota.origin, rhythm=quota.rhythm)
    if quota.dataset:
        kind &= Q(dataset=quota.dataset)
    if quota.synthetic_source_id is not None:
        kind &= Q(synthetic_source_id=quota.synthetic_source_id)
    return kind


def quota_records(*, quota: CaseQuota):
    """The drawable ECGs of a case-mix row, in a stable order."""
    return drawable_records().filter(quota_filter(quota)).order_by("pk")


def quota_source_text(quota: CaseQuota) -> str:
    """The source a row names, as in its shortage message: " from ptbxl", " from
    SSSD-ECG 2023", or "" for a row of any source."""
    if quota.synthetic_source_id is not None:
        return f" from {quota.synthetic_source.label}"
    return f" from {quota.dataset}" if quota.dataset else ""


def study_candidate_records(*, study: Study):
    """The pool's ECGs a study's case mix can draw: of its rows' origins, rhythms
    and sources, with a sheet and with their files in storage."""
    kinds = Q(pk__in=[])
    for quota in study.quotas.all():
        kinds |= quota_filter(quota)
    return drawable_records().filter(kinds).order_by("pk")


def record_arm(*, record: EcgRecord, by_source: bool) -> str:
    """A record's arm: its origin, and with ``by_source`` its dataset (real) or
    generator (synthetic), e.g. "real: ptbxl", "synthetic: SSSD-ECG 2023"."""
    if not by_source:
        return record.origin
    if record.origin == Origin.REAL:
        return f"real: {record.dataset}"
    source = record.synthetic_source
    if source is None and record.generation_job is not None:  # before sources
        return f"synthetic: {record.generation_job.checkpoint_sha256[:8]}"
    return f"synthetic: {source.label}" if source is not None else "synthetic"


def study_case_arms(*, study: Study) -> dict[int, str]:
    """The arm of each of a study's cases (practice ones too), by case id, for
    the report per arm.

    Arms follow the case mix: an origin whose rows name no source is one arm
    ("real", "synthetic"); an origin any of whose rows names a dataset or a
    generator is split by the source of each ECG ("real: ptbxl", "synthetic:
    demo-checkpoint @ab12cd34"), whichever row drew it.
    """
    by_source = {Origin.REAL: False, Origin.SYNTHETIC: False}
    for quota in study.quotas.all():
        if quota.dataset or quota.synthetic_source_id is not None:
            by_source[quota.origin] = True
    cases = study.cases.select_related(
        "record__synthetic_source", "record__generation_job"
    ).order_by("pk")
    return {
        case.pk: record_arm(record=case.record, by_source=by_source[case.record.origin])
        for case in cases
    }


def study_by_key(key: str) -> Study | None:
    """A study by its number or its exact name, as the commands take it."""
    study = None
    if key.isdigit():
        study = Study.objects.filter(pk=int(key)).first()
    return study or Study.objects.filter(name=key).first()


def study_keys_text(limit: int = 20) -> str:
    """The first studies as "number: name", for an error naming what exists."""
    names = ", ".join(f"{s.pk}: {s.name}" for s in Study.objects.order_by("pk")[:limit])
    return names or "none yet"


# The researcher's side: which ECGs a study drew and how each reader answered.
# Nothing below may ever reach a reader's page (see tests/studies/test_case_admin.py).

PROVENANCE_FIELDS = (
    "record_id",
    "dataset",
    "source_id",
    "synthetic_source",
    "generation_job",
    "generation_index",
    "checkpoint_sha256",
    "generation_seed",
    "sampler",
    "steps",
)


def record_provenance(*, record: EcgRecord) -> dict:
    """Where a case's ECG came from: its pool record, its source and, for a
    synthetic ECG, its generator's label and the job, checkpoint, seed and
    sampler that made it (None for a real one). Keys are ``PROVENANCE_FIELDS``."""
    job = record.generation_job
    source = record.synthetic_source
    return {
        "record_id": record.pk,
        "dataset": record.dataset,
        "source_id": record.source_id,
        "synthetic_source": source.label if source is not None else None,
        "generation_job": job.pk if job else None,
        "generation_index": record.generation_index,
        "checkpoint_sha256": job.checkpoint_sha256 if job else None,
        "generation_seed": record.generation_seed,
        "sampler": job.sampler if job else None,
        "steps": job.steps if job else None,
    }


def diagnosis_text(*, study: Study, codes: list[str]) -> str:
    """Chosen diagnosis codes as the study's option texts, e.g. "Atrial
    fibrillation + Other"; a code no option names is shown as it is."""
    names = {code: text for code, text in study.diagnosis_options}
    return " + ".join(names.get(code, code) for code in codes)


def study_cases_for_review(*, study: Study | None = None):
    """A study's cases (every study's if None) with their records, provenance and
    every assignment's answer prefetched, in the study's case order."""
    cases = StudyCase.objects.select_related(
        "study", "record__generation_job", "record__synthetic_source"
    ).prefetch_related(
        Prefetch(
            "assignments",
            queryset=Assignment.objects.select_related(
                "judgment", "participation__reader__user"
            ).order_by("participation_id", "round"),
        )
    )
    return cases.filter(study=study) if study is not None else cases


@dataclass(frozen=True)
class CaseAnswer:
    """One reader's answer to a case in one round, as the researcher reads it."""

    reader: str
    round: int
    origin: str  # "real", "synthetic", "" (not asked), or "-" (not answered yet)
    confidence: int | None
    diagnosis: str
    quality: str
    comment: str
    seconds: float | None


def case_answers(*, case: StudyCase) -> list[CaseAnswer]:
    """Every reader's answer to a case (unanswered assignments too), from the
    prefetch of ``study_cases_for_review``."""
    answers = []
    for assignment in case.assignments.all():
        reader = str(assignment.participation.reader)
        judgment = getattr(assignment, "judgment", None)
        if judgment is None:
            answers.append(
                CaseAnswer(reader, assignment.round, "-", None, "", "", "", None)
            )
            continue
        answers.append(
            CaseAnswer(
                reader=reader,
                round=assignment.round,
                origin=judgment.get_origin_display(),
                confidence=judgment.confidence,
                diagnosis=diagnosis_text(study=case.study, codes=judgment.diagnosis),
                quality=judgment.get_quality_display(),
                comment=judgment.comment,
                seconds=judgment.seconds,
            )
        )
    return answers
