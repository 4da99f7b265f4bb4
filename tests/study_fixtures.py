"""A small pool of real and synthetic AF and SR ECGs, studies over it, a researcher."""

import pytest
from django.contrib.auth.models import Group

from ecgstudy.pool.models import Origin, Rhythm
from ecgstudy.studies.models import CaseQuota, Study
from ecgstudy.studies.services import participation_create, study_launch
from tests.factories import (
    EcgRecordFactory,
    GenerationJobFactory,
    ReaderFactory,
    SyntheticRecordFactory,
    UserFactory,
)

PER_GROUP = 4  # records of each origin and rhythm in the pool


def make_pool() -> list:
    """PER_GROUP real and synthetic ECGs of each of AF and SR."""
    job = GenerationJobFactory()
    records = []
    for rhythm in (Rhythm.AF, Rhythm.SR):
        records += EcgRecordFactory.create_batch(PER_GROUP, rhythm=rhythm)
        records += SyntheticRecordFactory.create_batch(
            PER_GROUP, rhythm=rhythm, generation_job=job
        )
    return records


@pytest.fixture
def pool(db):
    return make_pool()


def make_study(*, per_group: int = 3, readers: int = 2, **fields) -> Study:
    fields = {"name": "Rhythm study", "seed": 11, "repeat_fraction": 0.25} | fields
    study = Study.objects.create(**fields)
    for origin in (Origin.REAL, Origin.SYNTHETIC):
        for rhythm in (Rhythm.AF, Rhythm.SR):
            CaseQuota.objects.create(
                study=study, origin=origin, rhythm=rhythm, count=per_group
            )
    for index in range(readers):
        participation_create(
            study=study,
            reader=ReaderFactory(site=f"Site {'AB'[index % 2]}"),
            seed=100 + index,
        )
    return study


@pytest.fixture
def draft_study(pool):
    return make_study()


@pytest.fixture
def launched_study(draft_study):
    return study_launch(study=draft_study)


@pytest.fixture
def researcher_client(client, db):
    """The test client, signed in as staff of the Researchers group."""
    user = UserFactory(username="researcher", is_staff=True)
    user.groups.add(Group.objects.get(name="Researchers"))
    client.force_login(user)
    return client
