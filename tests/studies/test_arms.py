"""Arms: case-mix rows that name a source (a real dataset, our checkpoint, an
imported generator), drawn from that source alone, balanced per reader, and
never named to a reader."""

from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from ecgstudy.pool.models import EcgRecord, Origin, Rhythm
from ecgstudy.pool.services import synthetic_source_for_job
from ecgstudy.studies.models import CaseQuota, Judgment, Study
from ecgstudy.studies.selectors import study_case_arms
from ecgstudy.studies.services import (
    Answers,
    judgment_submit,
    participation_create,
    study_launch,
)
from tests.factories import (
    EcgRecordFactory,
    GenerationJobFactory,
    ImportedRecordFactory,
    ReaderFactory,
    SyntheticRecordFactory,
    SyntheticSourceFactory,
)
from tests.studies.test_admin import study_form
from tests.studies.test_traceability_blinding import (
    ANSWER,
    assert_clean,
    same_site_links,
)

PER_SOURCE = 4
# Distinctive enough that finding one in a page can only be a leak.
SOURCE_NAME = "Zebragen-Unique"
SOURCE_VERSION = "v9.87-rc"
SOURCE_CITATION = "Quokka et al., J Leak Stud 2031"
CHECKPOINT_SHA = "5eed" * 16


@pytest.fixture
def arms_pool(db):
    """PER_SOURCE SR ECGs of each source: two real datasets, our checkpoint, an
    imported generator."""
    job = GenerationJobFactory(
        checkpoint_path="/ckpt/wombat-model.pt", checkpoint_sha256=CHECKPOINT_SHA
    )
    imported = SyntheticSourceFactory(
        name=SOURCE_NAME, version=SOURCE_VERSION, citation=SOURCE_CITATION
    )
    EcgRecordFactory.create_batch(PER_SOURCE, dataset="ptbxl", rhythm=Rhythm.SR)
    EcgRecordFactory.create_batch(PER_SOURCE, dataset="ludb", rhythm=Rhythm.SR)
    SyntheticRecordFactory.create_batch(PER_SOURCE, generation_job=job, rhythm="SR")
    ImportedRecordFactory.create_batch(
        PER_SOURCE, synthetic_source=imported, rhythm=Rhythm.SR
    )
    return {"checkpoint": synthetic_source_for_job(job=job), "imported": imported}


def three_arm_study(sources, *, imported_count=3, readers=2, **fields) -> Study:
    study = Study.objects.create(
        **{"name": "Generators", "seed": 5, "repeat_fraction": 0.0} | fields
    )
    rows = [
        {"origin": Origin.REAL, "dataset": "ptbxl"},
        {"origin": Origin.SYNTHETIC, "synthetic_source": sources["checkpoint"]},
        {"origin": Origin.SYNTHETIC, "synthetic_source": sources["imported"]},
    ]
    for row, count in zip(rows, (3, 3, imported_count), strict=True):
        CaseQuota.objects.create(study=study, rhythm=Rhythm.SR, count=count, **row)
    for index in range(readers):
        participation_create(study=study, reader=ReaderFactory(), seed=50 + index)
    return study


def test_a_three_arm_study_draws_each_row_from_its_own_source(arms_pool):
    study = study_launch(study=three_arm_study(arms_pool))
    arms = study_case_arms(study=study)
    checkpoint, imported = arms_pool["checkpoint"], arms_pool["imported"]
    assert Counter(arms.values()) == {
        "real: ptbxl": 3,
        f"synthetic: wombat-model @{CHECKPOINT_SHA[:8]}": 3,
        f"synthetic: {SOURCE_NAME} {SOURCE_VERSION}": 3,
    }
    records = EcgRecord.objects.filter(study_cases__study=study)
    assert set(records.filter(origin="real").values_list("dataset", flat=True)) == {
        "ptbxl"
    }
    assert records.filter(synthetic_source=checkpoint).count() == 3
    assert records.filter(synthetic_source=imported).count() == 3
    # Every reader reads every counted case: the arms are balanced per reader.
    for participation in study.participations.all():
        read = participation.assignments.filter(round=1).values_list("case", flat=True)
        assert Counter(arms[case] for case in read) == Counter(arms.values())


def test_rows_of_any_source_give_one_arm_per_origin(arms_pool):
    study = Study.objects.create(name="Plain", seed=3, repeat_fraction=0.0)
    for origin in (Origin.REAL, Origin.SYNTHETIC):
        CaseQuota.objects.create(study=study, origin=origin, rhythm="SR", count=4)
    study_launch(study=study)
    assert Counter(study_case_arms(study=study).values()) == {
        "real": 4,
        "synthetic": 4,
    }


def test_a_named_source_and_any_source_of_one_rhythm_never_share_a_record(arms_pool):
    study = Study.objects.create(name="Mixed", seed=9, repeat_fraction=0.0)
    imported = arms_pool["imported"]
    CaseQuota.objects.create(
        study=study, origin="synthetic", rhythm="SR", count=4, synthetic_source=imported
    )
    CaseQuota.objects.create(study=study, origin="synthetic", rhythm="SR", count=4)
    study_launch(study=study)
    records = EcgRecord.objects.filter(study_cases__study=study)
    assert records.count() == 8  # all of the imported ones, then the generated ones
    assert records.filter(synthetic_source=arms_pool["imported"]).count() == 4


def test_a_short_source_is_named_in_the_shortage_and_nothing_is_written(arms_pool):
    study = three_arm_study(arms_pool, imported_count=PER_SOURCE + 2)
    with pytest.raises(ValidationError) as raised:
        study_launch(study=study)
    assert (
        f"6 synthetic SR from {SOURCE_NAME} {SOURCE_VERSION} asked, 4 distinct"
        in str(raised.value)
    )
    study.refresh_from_db()
    assert study.is_draft and not study.cases.exists()


def test_a_real_row_cannot_name_a_generator_nor_a_synthetic_row_a_dataset(arms_pool):
    study = Study.objects.create(name="Wrong", seed=1)
    for row in (
        {"origin": "real", "synthetic_source": arms_pool["imported"]},
        {"origin": "synthetic", "dataset": "ptbxl"},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            CaseQuota.objects.create(study=study, rhythm="SR", count=1, **row)


def test_the_admin_offers_sources_in_the_case_mix_and_refuses_duplicates(
    researcher_client, arms_pool
):
    page = researcher_client.get(reverse("admin:studies_study_add")).content.decode()
    assert 'name="quotas-__prefix__-synthetic_source"' in page
    assert 'name="quotas-__prefix__-dataset"' in page
    imported = str(arms_pool["imported"].pk)
    rows = {
        "quotas-0-dataset": "ptbxl",
        "quotas-1-synthetic_source": imported,
    }
    response = researcher_client.post(
        reverse("admin:studies_study_add"), study_form(**rows)
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    real, synthetic = Study.objects.get().quotas.order_by("origin")
    assert real.dataset == "ptbxl"
    assert synthetic.synthetic_source == arms_pool["imported"]
    duplicate = study_form(
        **{"name": "Twice", "quotas-0-origin": "synthetic"}
        | {f"quotas-{i}-synthetic_source": imported for i in (0, 1)}
    )
    page = researcher_client.post(reverse("admin:studies_study_add"), duplicate)
    assert page.status_code == 200
    assert "same origin, rhythm and source" in page.content.decode()
    wrong = study_form(**{"name": "Wrong", "quotas-0-synthetic_source": imported})
    page = researcher_client.post(reverse("admin:studies_study_add"), wrong)
    assert "not the other way round" in page.content.decode()
    assert Study.objects.count() == 1


def test_a_reader_never_receives_a_sources_name_version_or_citation(client, arms_pool):
    study = study_launch(study=three_arm_study(arms_pool, readers=1, practice_cases=1))
    checkpoint = arms_pool["checkpoint"]
    values = {
        SOURCE_NAME,
        SOURCE_VERSION,
        SOURCE_CITATION,
        "Quokka",
        checkpoint.name,
        checkpoint.version,
        checkpoint.label,
        "ptbxl",
    }
    participation = study.participations.get()
    client.force_login(participation.reader.user)
    seen: set[str] = set()

    def visit(url: str) -> None:
        if url in seen:
            return
        seen.add(url)
        response = client.get(url, follow=True)
        assert_clean(response, url, values)
        if response.status_code == 200 and "html" in response["Content-Type"]:
            for link in same_site_links(response.content.decode(), url):
                if not link.startswith("/case/"):
                    visit(link)

    visit(reverse("studies:list"))
    visit(reverse("studies:intro", args=[study.pk]))
    for assignment in participation.assignments.order_by("position"):
        url = reverse("studies:case", args=[assignment.token])
        page = client.get(url)
        assert page.status_code == 200 and b"<svg" in page.content
        assert_clean(page, url, values)
        answered = client.post(url, ANSWER, follow=True)
        assert_clean(answered, url, values)
        if not Judgment.objects.filter(assignment=assignment).exists():
            judgment_submit(
                assignment=assignment,
                answers=Answers(origin="synthetic", confidence=3, diagnosis=("SR",)),
            )
    seen.clear()
    visit(reverse("studies:list"))
    visit(reverse("studies:done", args=[study.pk]))
    assert not participation.assignments.filter(judgment__isnull=True).exists()
