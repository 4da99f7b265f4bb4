"""Writes of the studies: readers and invitations, launch and close, answers."""

from __future__ import annotations

import hashlib
import random
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ecgstudy.pool.models import EcgRecord, Origin
from ecgstudy.pool.render import DURATION_S
from ecgstudy.pool.selectors import record_sheet_svg, record_signal
from ecgstudy.pool.similarity import near_duplicate_guard
from ecgstudy.studies.models import (
    MAX_EXPOSURE_MS,
    MIN_EXPOSURE_MS,
    Assignment,
    BlindingAudit,
    CasePair,
    Design,
    Invitation,
    Judgment,
    Participation,
    Reader,
    Study,
    StudyCase,
)
from ecgstudy.studies.ordering import (
    pair_sides,
    pair_up,
    reading_order,
)
from ecgstudy.studies.selectors import (
    CaseCounter,
    assignments_to_read,
    next_exposure_ms,
    quota_records,
    quota_source_text,
    study_candidate_records,
)

INVITATION_DAYS = 14
MIN_STAIRCASE_PRACTICE = 6  # practice trials a reader's staircase adapts on
AUDIT_MIN_PER_ORIGIN = 4  # two cases of each origin in each of two folds
User = get_user_model()


def new_token() -> str:
    """A random, URL-safe, opaque token (128 bits)."""
    return secrets.token_urlsafe(16)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Readers and invitations ---------------------------------------------------------


def reader_create(
    *,
    username: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    site: str = "",
    experience: str = "",
    password: str | None = None,
) -> Reader:
    """A new user who can read, with a password or (None) waiting for an invitation."""
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(f"a user named {username!r} already exists")
    with transaction.atomic():
        user = User(
            username=username, email=email, first_name=first_name, last_name=last_name
        )
        if password is None:
            user.set_unusable_password()
        else:
            password_validation.validate_password(password, user)
            user.set_password(password)
        user.save()
        return Reader.objects.create(user=user, site=site, experience=experience)


def reader_account_problem(user) -> str | None:
    """Why an account cannot read or be sent an invitation; None when it can.

    Readers are ordinary accounts. An invitation sets a password, so one that
    reached a staff or superuser account would hand it to whoever holds the link,
    and one that reached a deactivated account would undo its deactivation.
    """
    if user.is_superuser or user.is_staff:
        return f"{user} is staff: readers are ordinary accounts; no invitation"
    if not user.is_active:
        return f"{user} is deactivated: reactivate the account first, no invitation"
    return None


def invitation_create(
    *, reader: Reader, created_by=None, days: int = INVITATION_DAYS
) -> tuple[Invitation, str]:
    """A one-time invitation; returns it and its token, which is stored only hashed.

    The reader's older links stop working. Raises ValidationError for an account
    that must not be opened by a link (``reader_account_problem``).
    """
    problem = reader_account_problem(reader.user)
    if problem:
        raise ValidationError(problem)
    token = new_token()
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.filter(
            reader=reader, used_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        invitation = Invitation.objects.create(
            reader=reader,
            token_sha256=token_digest(token),
            created_by=created_by,
            expires_at=now + timedelta(days=days),
        )
    return invitation, token


def reader_add(*, user, site: str = "", experience: str = "") -> Reader:
    """Make an existing ordinary user a reader."""
    problem = reader_account_problem(user)
    if problem:
        raise ValidationError(problem)
    if Reader.objects.filter(user=user).exists():
        raise ValidationError(f"{user} is a reader already")
    return Reader.objects.create(user=user, site=site, experience=experience)


def reader_invite(*, invited_by=None, **details) -> tuple[Reader, str]:
    """A new reader without a password, and the token of their invitation link.

    ``details`` are those of ``reader_create``; both rows are written or neither.
    """
    with transaction.atomic():
        reader = reader_create(**details, password=None)
        _, token = invitation_create(reader=reader, created_by=invited_by)
    return reader, token


def invitation_usable(*, token: str) -> Invitation | None:
    """The invitation a token opens: unused, not replaced, not expired, and of an
    account an invitation may open."""
    invitation = (
        Invitation.objects.select_related("reader__user")
        .filter(
            token_sha256=token_digest(token),
            used_at__isnull=True,
            revoked_at__isnull=True,
        )
        .first()
    )
    if invitation is None or invitation.expires_at <= timezone.now():
        return None
    if reader_account_problem(invitation.reader.user):
        return None
    return invitation


def invitation_accept(*, token: str, password: str):
    """Set the reader's password and spend the invitation; returns the user.

    Raises ValidationError if the link is unknown, used, replaced or expired, if
    the account is staff or deactivated, or if the password is too weak. Two
    concurrent uses of one link: the second finds it spent.
    """
    with transaction.atomic():
        invitation = invitation_usable(token=token)
        if invitation is not None:
            invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        user = invitation.reader.user if invitation is not None else None
        if (
            invitation is None
            or invitation.used_at
            or invitation.revoked_at
            or reader_account_problem(user)
        ):
            raise ValidationError(
                "This invitation link is not valid: it has been used, replaced by a "
                "newer one or has expired. Ask the study's researcher for a new one."
            )
        password_validation.validate_password(password, user)
        user.set_password(password)
        user.save(update_fields=["password"])
        invitation.used_at = timezone.now()
        invitation.save(update_fields=["used_at"])
    return user


# Studies -------------------------------------------------------------------------


def design_problems(values: dict) -> dict[str, str]:
    """What is wrong with a study's design settings, by field; empty when nothing.

    ``values`` holds the study's fields by name (a form's cleaned data or a
    study's ``__dict__``); a missing one is not checked.
    """
    problems = {}
    design = values.get("design")
    bounds = f"{MIN_EXPOSURE_MS}-{MAX_EXPOSURE_MS} ms"
    for name in ("exposure_ms", "exposure_min_ms", "exposure_max_ms"):
        value = values.get(name)
        if value is not None and not MIN_EXPOSURE_MS <= value <= MAX_EXPOSURE_MS:
            problems[name] = f"Give an exposure of {bounds}, not {value} ms."
    if values.get("staircase"):
        low, start, high = (
            values.get("exposure_min_ms"),
            values.get("exposure_ms"),
            values.get("exposure_max_ms"),
        )
        step = values.get("exposure_step")
        if design != Design.TIMED:
            problems["staircase"] = "The staircase is for the time-limited design."
        elif not values.get("ask_origin", True):
            problems["staircase"] = (
                "The staircase follows the real-or-synthetic answer: ask it."
            )
        elif None not in (low, start, high) and not low <= start <= high:
            problems["exposure_ms"] = (
                f"The first exposure ({start} ms) must lie between the shortest "
                f"({low} ms) and the longest ({high} ms)."
            )
        if step is not None and not step > 1:
            problems["exposure_step"] = f"Give a factor above 1, not {step}."
        practice = values.get("practice_cases")
        if (
            design == Design.TIMED
            and practice is not None
            and practice < MIN_STAIRCASE_PRACTICE
        ):
            problems["practice_cases"] = (
                "The staircase adapts on practice cases only (on counted cases it "
                "would tell readers whether they were right): give at least "
                f"{MIN_STAIRCASE_PRACTICE} practice cases, not {practice}."
            )
    if design == Design.PAIRED_2AFC and values.get("practice_cases"):
        problems["practice_cases"] = (
            "The paired design has no practice cases yet: set 0."
        )
    return problems


@dataclass(frozen=True)
class _Draw:
    counted: list[int]  # record ids
    practice: list[int]
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (real, synthetic)


def _draw_cases(study: Study) -> _Draw:
    """Draw the study's records with its seed; ValidationError if the pool is short.

    Each row's ECGs are taken in a seeded random order, skipping any that is a
    near-duplicate (``pool.similarity``) of one already taken, so no study ever
    shows a reader the same ECG twice under two tokens. A row that names a
    source (a real dataset, a generator) draws from that source alone; such
    rows are drawn before the rows of any source of their origin and rhythm, so
    that those take what the named sources leave.
    """
    rng = random.Random(study.seed)
    quotas = sorted(
        study.quotas.select_related("synthetic_source"),
        key=lambda q: (
            q.origin,
            q.rhythm,
            not (q.dataset or q.synthetic_source_id),
            q.dataset,
            q.synthetic_source_id or 0,
        ),
    )
    if not quotas:
        raise ValidationError("the study has no case mix: add at least one row")
    guard = near_duplicate_guard(settings.POOL_FS, round(DURATION_S * settings.POOL_FS))

    def distinct(record: EcgRecord) -> bool:
        """Take the record unless it repeats one already taken."""
        signal = record_signal(record=record)
        if guard.is_near_duplicate(signal):
            return False
        guard.take(signal)
        return True

    counted: list[int] = []
    leftover: list[EcgRecord] = []
    shortages = []
    for quota in quotas:
        taken = set(counted)
        available = [
            record
            for record in quota_records(quota=quota).only("pk", "signal")
            if record.pk not in taken
        ]
        rng.shuffle(available)
        chosen, skipped = [], 0
        for position, record in enumerate(available):
            if len(chosen) == quota.count:
                leftover += available[position:]
                break
            if distinct(record):
                chosen.append(record.pk)
            else:
                skipped += 1
        if len(chosen) < quota.count:
            repeats = f" ({skipped} near-duplicates left out)" if skipped else ""
            shortages.append(
                f"{quota.count} {quota.get_origin_display().lower()} "
                f"{quota.rhythm}{quota_source_text(quota)} asked, {len(chosen)} "
                f"distinct in the pool{repeats}"
            )
            continue
        counted += chosen
    if shortages:
        raise ValidationError(
            "the pool has too few ECGs with a sheet: " + "; ".join(shortages)
        )
    chosen_pks = set(counted)
    leftover = list({r.pk: r for r in leftover if r.pk not in chosen_pks}.values())
    practice = []
    leftover.sort(key=lambda record: record.pk)
    rng.shuffle(leftover)
    for record in leftover:
        if len(practice) == study.practice_cases:
            break
        if distinct(record):
            practice.append(record.pk)
    if len(practice) < study.practice_cases:
        raise ValidationError(
            f"{study.practice_cases} practice cases asked, but only "
            f"{len(practice)} distinct ECGs of the case mix's kinds are left in the "
            "pool after the draw"
        )
    return _Draw(counted=counted, practice=practice)


def _check_launch(study: Study) -> tuple[list[str], _Draw | None]:
    """Every reason the study cannot be launched, and the draw when there is none."""
    problems = []
    if not study.is_draft:
        problems.append(f"the study is {study.get_status_display().lower()}")
    if not (
        study.ask_origin
        or study.ask_diagnosis
        or study.ask_quality
        or study.ask_comment
    ):
        problems.append("every question is switched off")
    if study.ask_diagnosis and not study.diagnosis_options:
        problems.append("the diagnosis question has no options")
    problems.extend(design_problems(vars(study)).values())
    try:
        draw = _draw_cases(study)
    except ValidationError as exc:
        problems.extend(exc.messages)
        draw = None
    if draw is not None and study.design == Design.PAIRED_2AFC:
        try:
            draw = replace(draw, pairs=_draw_pairs(study, draw.counted))
        except ValidationError as exc:
            problems.extend(exc.messages)
    return problems, draw


def _draw_pairs(study: Study, record_ids: list[int]) -> list[tuple[int, int]]:
    """Pair each drawn synthetic ECG with a drawn real ECG of its rhythm, with the
    study's seed; ValidationError naming each rhythm that does not pair up."""
    real: dict[str, list[int]] = {}
    synthetic: dict[str, list[int]] = {}
    records = EcgRecord.objects.filter(pk__in=record_ids).order_by("pk")
    for pk, origin, rhythm in records.values_list("pk", "origin", "rhythm"):
        (synthetic if origin == Origin.SYNTHETIC else real).setdefault(
            rhythm, []
        ).append(pk)
    try:
        return pair_up(real, synthetic, seed=study.seed)
    except ValueError as exc:
        raise ValidationError(
            "the paired design shows each synthetic case beside a real case of its "
            f"rhythm, but the case mix does not pair up ({exc}): give each rhythm "
            "as many real as synthetic cases"
        ) from None


def study_launch_problems(*, study: Study) -> list[str]:
    """Why a study cannot be launched yet; empty when it can."""
    return _check_launch(study)[0]


def study_launch(*, study: Study) -> Study:
    """Freeze the study: draw its cases, give them tokens, store every reader's order.

    Raises ValidationError naming every problem; nothing is written then.
    """
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        problems, draw = _check_launch(study)
        if problems:
            raise ValidationError(problems)
        # Cases are drawn row by row of the case mix (real rows first), so their
        # ids would follow origin; readers' orders are shuffles of sorted ids, and
        # a reader who recovered their seed would then know every origin. Created
        # in an order no seed gives, ids carry nothing.
        cases = [
            StudyCase(study=study, record_id=pk, token=new_token(), practice=False)
            for pk in draw.counted
        ] + [
            StudyCase(study=study, record_id=pk, token=new_token(), practice=True)
            for pk in draw.practice
        ]
        secrets.SystemRandom().shuffle(cases)
        StudyCase.objects.bulk_create(cases)
        if draw.pairs:
            case_of = dict(study.cases.values_list("record_id", "pk"))
            pairs = list(draw.pairs)
            secrets.SystemRandom().shuffle(pairs)
            CasePair.objects.bulk_create(
                CasePair(
                    study=study, real_id=case_of[real], synthetic_id=case_of[synthetic]
                )
                for real, synthetic in pairs
            )
        study.status = Study.Status.LAUNCHED
        study.launched_at = timezone.now()
        study.save(update_fields=["status", "launched_at"])
        for participation in study.participations.all():
            _assign(participation)
    return study


def study_close(*, study: Study) -> Study:
    """End answering; what was answered stays."""
    if study.status != Study.Status.LAUNCHED:
        raise ValidationError("only a launched study can be closed")
    study.status = Study.Status.CLOSED
    study.closed_at = timezone.now()
    study.save(update_fields=["status", "closed_at"])
    return study


def _assign(participation: Participation) -> None:
    """Store the reader's order of the study's cases, drawn from their seed.

    In a paired study the order is of the pairs, and the side of each pair's
    real ECG is drawn from the same seed on a stream of its own.
    """
    study = participation.study
    if study.design == Design.PAIRED_2AFC:
        _assign_pairs(participation)
        return
    cases = list(study.cases.order_by("pk"))
    order = reading_order(
        [case.pk for case in cases if not case.practice],
        practice=[case.pk for case in cases if case.practice],
        seed=participation.seed,
        repeat_fraction=study.repeat_fraction,
    )
    Assignment.objects.bulk_create(
        Assignment(
            participation=participation,
            case_id=case_pk,
            round=round_,
            position=position,
            token=new_token(),
        )
        for position, (case_pk, round_) in enumerate(order)
    )


def _assign_pairs(participation: Participation) -> None:
    pairs = {pair.pk: pair for pair in participation.study.pairs.order_by("pk")}
    order = reading_order(
        list(pairs),
        seed=participation.seed,
        repeat_fraction=participation.study.repeat_fraction,
    )
    sides = pair_sides(len(order), seed=participation.seed)
    Assignment.objects.bulk_create(
        Assignment(
            participation=participation,
            case_id=pairs[pair_pk].synthetic_id,
            pair_id=pair_pk,
            real_side=side,
            round=round_,
            position=position,
            token=new_token(),
        )
        for position, ((pair_pk, round_), side) in enumerate(
            zip(order, sides, strict=True)
        )
    )


def participation_create(
    *, study: Study, reader: Reader, seed: int | None = None
) -> Participation:
    """Add a reader to a study; in a launched study their order is stored at once."""
    if study.status == Study.Status.CLOSED:
        raise ValidationError("readers cannot join a closed study")
    with transaction.atomic():
        participation = Participation(study=study, reader=reader)
        if seed is not None:
            participation.seed = seed
        try:
            with transaction.atomic():
                participation.save()
        except IntegrityError:
            raise ValidationError(f"{reader} already reads {study}") from None
        if study.status == Study.Status.LAUNCHED:
            _assign(participation)
    return participation


# Reading ---------------------------------------------------------------------------


def assignment_serve(*, assignment: Assignment, now: datetime | None = None) -> None:
    """Note when the case page was served: the answer's time starts here."""
    assignment.served_at = now or timezone.now()
    Assignment.objects.filter(pk=assignment.pk, judgment__isnull=True).update(
        served_at=assignment.served_at
    )


def assignment_expose(
    *, assignment: Assignment, now: datetime | None = None
) -> int | None:
    """Time-limited studies: claim the one sending of the case's sheet.

    Returns the exposure in ms for the page that sends the sheet, decided now
    (fixed, or the reader's practice staircase) and stored on the assignment;
    None when the sheet was sent before (a reload, a second tab, a refused
    answer), and the page then shows the questions alone. Two requests at once:
    one wins.
    """
    exposure = next_exposure_ms(assignment=assignment)
    claimed = Assignment.objects.filter(
        pk=assignment.pk, sheet_served_at__isnull=True, judgment__isnull=True
    ).update(sheet_served_at=now or timezone.now(), exposure_ms=exposure)
    return exposure if claimed else None


@dataclass(frozen=True)
class Answers:
    """Cleaned answers; a question that is switched off has its empty value."""

    origin: str = ""
    choice: str = ""  # paired studies: the side chosen as real
    confidence: int | None = None
    diagnosis: tuple[str, ...] = ()
    quality: str = ""
    comment: str = ""
    display: dict = field(default_factory=dict)  # see forms.display_settings


def judgment_submit(
    *, assignment: Assignment, answers: Answers, now: datetime | None = None
) -> tuple[Judgment, bool]:
    """Store the answer to an assignment once; returns (judgment, created).

    A second submit of the same assignment, even at the same instant from another
    tab, returns the first answer unchanged. Raises ValidationError if the study is
    no longer open.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            Assignment.objects.select_for_update()
            .select_related("participation__study")
            .get(pk=assignment.pk)
        )
        if locked.participation.study.status != Study.Status.LAUNCHED:
            raise ValidationError("the study is closed")
        existing = Judgment.objects.filter(assignment=locked).first()
        if existing is not None:
            return existing, False
        served_at = (
            locked.served_at if locked.served_at and locked.served_at <= now else None
        )
        judgment = Judgment.objects.create(
            assignment=locked,
            origin=answers.origin,
            choice=answers.choice,
            exposure_ms=locked.exposure_ms if locked.sheet_served_at else None,
            confidence=answers.confidence,
            diagnosis=list(answers.diagnosis),
            quality=answers.quality,
            comment=answers.comment,
            display=dict(answers.display),
            served_at=served_at,
            submitted_at=now,
        )
        participation = locked.participation
        if not assignments_to_read(participation=participation).exists():
            participation.finished_at = now
            participation.save(update_fields=["finished_at"])
    return judgment, True


# Blinding audit ----------------------------------------------------------------------


def study_audit_blinding(
    *, study: Study, created_by=None, progress=None
) -> BlindingAudit:
    """Measure how well the bytes readers would receive tell the origin; store it.

    Every ECG the study's case mix can draw is rendered in the case page exactly
    as a reader would receive it (a fresh random token, the first counter, the
    page and its inlined sheet); ``ecgstudy.analysis.blinding`` then computes each
    origin cue's AUC and the cross-validated AUC of classifiers on them.
    ``progress(done, total)`` is called as pages are read. Raises ValidationError
    if the case mix offers too few ECGs of either origin to measure anything.
    """
    from ecgstudy.analysis.blinding import audit, case_cues
    from ecgstudy.studies.pages import case_page_bytes, page_request, record_waveform

    records = list(study_candidate_records(study=study))
    synthetic = np.array([record.origin == Origin.SYNTHETIC for record in records])
    n_synthetic, n_real = int(synthetic.sum()), int((~synthetic).sum())
    if min(n_real, n_synthetic) < AUDIT_MIN_PER_ORIGIN:
        raise ValidationError(
            "the blinding audit needs at least "
            f"{AUDIT_MIN_PER_ORIGIN} real and {AUDIT_MIN_PER_ORIGIN} synthetic ECGs "
            f"of the case mix's kinds in the pool; there are {n_real} and "
            f"{n_synthetic}"
        )
    request = page_request()
    counter = CaseCounter(
        practice=False, number=1, of=len(records), answered=0, total=len(records)
    )
    cues = []
    for done, record in enumerate(records, start=1):
        sheet = record_sheet_svg(record=record)
        page = case_page_bytes(
            request,
            study=study,
            token=new_token(),
            counter=counter,
            sheet=sheet,
            waveform=record_waveform(record=record),
            fs=record.fs,
        )
        cues.append(case_cues(page, sheet))
        if progress is not None:
            progress(done, len(records))
    result = audit(cues, synthetic, threshold=study.audit_max_auc, seed=study.seed)
    return BlindingAudit.objects.create(
        study=study,
        created_by=created_by,
        n_real=n_real,
        n_synthetic=n_synthetic,
        passed=result.passed,
        result=result.to_json(),
    )
