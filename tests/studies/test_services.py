"""Launching, closing, joining, answering and invitations, on the real database."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection
from django.utils import timezone

from ecgstudy.pool.models import Origin, Rhythm
from ecgstudy.studies.models import Assignment, Judgment, StudyCase
from ecgstudy.studies.ordering import reading_order
from ecgstudy.studies.services import (
    Answers,
    invitation_accept,
    invitation_create,
    invitation_usable,
    judgment_submit,
    participation_create,
    reader_create,
    study_close,
    study_launch,
)
from tests.factories import ReaderFactory
from tests.study_fixtures import make_study

ANSWERS = Answers(origin="real", confidence=4, diagnosis=("AF",), quality="good")


def test_launch_draws_the_case_mix_and_stores_every_readers_order(launched_study):
    cases = launched_study.cases.select_related("record")
    counts = {}
    for case in cases:
        key = (case.record.origin, case.record.rhythm)
        counts[key] = counts.get(key, 0) + 1
    assert counts == {
        (origin, rhythm): 3
        for origin in (Origin.REAL, Origin.SYNTHETIC)
        for rhythm in (Rhythm.AF, Rhythm.SR)
    }
    tokens = [case.token for case in cases]
    assert len(set(tokens)) == len(tokens) and all(len(t) >= 20 for t in tokens)
    for participation in launched_study.participations.all():
        stored = [
            (a.case_id, a.round) for a in participation.assignments.order_by("position")
        ]
        assert stored == reading_order(
            sorted(case.pk for case in cases),
            seed=participation.seed,
            repeat_fraction=launched_study.repeat_fraction,
        )
        assert sum(1 for _, round_ in stored if round_ == 2) == 3


def test_launch_with_the_same_seed_draws_the_same_records(pool):
    first = study_launch(study=make_study(readers=0, seed=99))
    second = study_launch(study=make_study(readers=0, seed=99, name="copy"))
    assert set(first.cases.values_list("record", flat=True)) == set(
        second.cases.values_list("record", flat=True)
    )


def test_practice_cases_come_first_and_are_not_counted(pool):
    study = study_launch(study=make_study(per_group=2, practice_cases=2))
    practice = set(study.cases.filter(practice=True).values_list("pk", flat=True))
    assert len(practice) == 2
    for participation in study.participations.all():
        first_two = participation.assignments.order_by("position")[:2]
        assert {a.case_id for a in first_two} == practice


def test_launch_on_a_short_pool_names_the_shortage_and_writes_nothing(pool):
    study = make_study(per_group=PER_GROUP_TOO_MANY)
    with pytest.raises(
        ValidationError, match="9 real AF asked, 4 distinct in the pool"
    ):
        study_launch(study=study)
    study.refresh_from_db()
    assert study.is_draft
    assert not StudyCase.objects.exists() and not Assignment.objects.exists()


PER_GROUP_TOO_MANY = 9


def test_a_launched_study_cannot_be_launched_again(launched_study):
    with pytest.raises(ValidationError, match="launched"):
        study_launch(study=launched_study)


def test_a_reader_added_after_launch_gets_an_order_at_once(launched_study):
    participation = participation_create(study=launched_study, reader=ReaderFactory())
    assert participation.assignments.count() == 15


def test_a_reader_cannot_join_twice(launched_study):
    reader = launched_study.participations.first().reader
    with pytest.raises(ValidationError, match="already reads"):
        participation_create(study=launched_study, reader=reader)


def test_an_answer_is_stored_once_and_a_second_submit_changes_nothing(launched_study):
    assignment = Assignment.objects.filter(participation__study=launched_study).first()
    first, created = judgment_submit(assignment=assignment, answers=ANSWERS)
    again, created_again = judgment_submit(
        assignment=assignment, answers=Answers(origin="synthetic", confidence=1)
    )
    assert created and not created_again
    assert again.pk == first.pk
    first.refresh_from_db()
    assert first.origin == "real" and first.confidence == 4
    assert Judgment.objects.count() == 1


def test_the_database_refuses_a_second_answer_to_one_assignment(launched_study):
    assignment = Assignment.objects.filter(participation__study=launched_study)[0]
    judgment_submit(assignment=assignment, answers=ANSWERS)
    with pytest.raises(IntegrityError):
        Judgment.objects.create(assignment=assignment, submitted_at=timezone.now())


@pytest.mark.django_db(transaction=True)
def test_concurrent_submits_of_one_case_store_one_answer(pool):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    study = study_launch(study=make_study(readers=1))
    assignment = Assignment.objects.filter(participation__study=study).first()
    barrier = threading.Barrier(4)
    results = []

    def submit():
        barrier.wait()
        try:
            results.append(judgment_submit(assignment=assignment, answers=ANSWERS)[1])
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert Judgment.objects.filter(assignment=assignment).count() == 1


def test_time_on_a_case_runs_from_serving_to_submit(launched_study):
    from ecgstudy.studies.services import assignment_serve

    assignment = Assignment.objects.filter(participation__study=launched_study)[0]
    served = timezone.now()
    assignment_serve(assignment=assignment, now=served)
    judgment, _ = judgment_submit(
        assignment=assignment, answers=ANSWERS, now=served + timedelta(seconds=42)
    )
    assert judgment.seconds == pytest.approx(42)


def test_a_closed_study_takes_no_answers(launched_study):
    assignment = Assignment.objects.filter(participation__study=launched_study)[0]
    study_close(study=launched_study)
    with pytest.raises(ValidationError, match="closed"):
        judgment_submit(assignment=assignment, answers=ANSWERS)
    assert not Judgment.objects.exists()
    with pytest.raises(ValidationError):
        participation_create(study=launched_study, reader=ReaderFactory())


def test_the_last_answer_marks_the_reader_finished(pool):
    study = study_launch(study=make_study(per_group=1, readers=1, repeat_fraction=0))
    participation = study.participations.get()
    for assignment in participation.assignments.order_by("position"):
        participation.refresh_from_db()
        assert participation.finished_at is None
        judgment_submit(assignment=assignment, answers=ANSWERS)
    participation.refresh_from_db()
    assert participation.finished_at is not None


def test_an_invitation_sets_the_password_once(db):
    reader = reader_create(username="dr.who", email="who@example.org")
    assert not reader.user.has_usable_password()
    invitation, token = invitation_create(reader=reader)
    assert token not in invitation.token_sha256
    user = invitation_accept(token=token, password="a-long-pass-phrase")
    assert user.check_password("a-long-pass-phrase")
    with pytest.raises(ValidationError, match="has been used"):
        invitation_accept(token=token, password="another-pass-phrase")


def test_an_expired_invitation_does_not_work(db):
    reader = reader_create(username="late")
    invitation, token = invitation_create(reader=reader)
    invitation.expires_at = timezone.now() - timedelta(seconds=1)
    invitation.save()
    assert invitation_usable(token=token) is None
    with pytest.raises(ValidationError):
        invitation_accept(token=token, password="a-long-pass-phrase")


def test_a_weak_password_is_refused_and_the_invitation_kept(db):
    _, token = invitation_create(reader=reader_create(username="weak"))
    with pytest.raises(ValidationError):
        invitation_accept(token=token, password="123")
    assert invitation_usable(token=token) is not None


def test_a_reader_name_is_taken_once(db):
    reader_create(username="dr.house")
    with pytest.raises(ValidationError, match="already exists"):
        reader_create(username="Dr.House")


def test_stored_orders_interleave_real_and_synthetic_and_reproduce(db):
    from ecgstudy.studies.models import CaseQuota, Study
    from tests.factories import EcgRecordFactory, SyntheticRecordFactory
    from tests.studies.test_ordering import runs_z

    EcgRecordFactory.create_batch(20, rhythm=Rhythm.SR)
    SyntheticRecordFactory.create_batch(20, rhythm=Rhythm.SR)
    study = Study.objects.create(name="Interleaving", seed=4, repeat_fraction=0.1)
    for origin in (Origin.REAL, Origin.SYNTHETIC):
        CaseQuota.objects.create(study=study, origin=origin, rhythm="SR", count=20)
    for _ in range(6):
        participation_create(study=study, reader=ReaderFactory())
    study_launch(study=study)
    case_ids = sorted(study.cases.values_list("pk", flat=True))
    orders = set()
    for participation in study.participations.all():
        assignments = list(
            participation.assignments.select_related("case__record").order_by(
                "position"
            )
        )
        origins = [a.case.record.origin for a in assignments if a.round == 1]
        assert abs(runs_z(origins)) < 3.5
        stored = [(a.case_id, a.round) for a in assignments]
        assert stored == reading_order(
            case_ids, seed=participation.seed, repeat_fraction=0.1
        )
        orders.add(tuple(stored))
    assert len(orders) == 6  # each reader has an order of their own


def test_case_ids_carry_no_origin_and_seeds_cannot_be_searched(pool):
    """A reader who recovered their seed from where repeats fall would know their
    whole order; if case ids followed the case mix (real rows first), the order
    would tell every origin. Ids are created in a random order, seeds are 62-bit."""
    study = study_launch(study=make_study(per_group=4, repeat_fraction=0))
    origins = list(
        study.cases.filter(practice=False)
        .order_by("pk")
        .values_list("record__origin", flat=True)
    )
    assert len(origins) == 16  # in creation order: one of 12,870 would be sorted
    half = origins[:8]
    assert Origin.REAL in half and Origin.SYNTHETIC in half
    from ecgstudy.studies.models import random_seed

    seeds = [random_seed() for _ in range(20)]
    assert max(seeds) > 2**40 and max(seeds) < 2**63
