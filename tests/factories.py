"""factory_boy factories: pool records with signals and sheets, jobs, readers."""

import hashlib
import uuid

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from ecgstudy.pool.models import (
    EcgRecord,
    GenerationJob,
    Origin,
    Rhythm,
    SyntheticSource,
)
from ecgstudy.pool.render import render_sheet
from ecgstudy.pool.services import signal_to_bytes, synthetic_source_for_job
from ecgstudy.studies.models import Reader
from tests.signals import synthetic_ecg


def distinct_ecg(fs: float, seed: int):
    """An ECG of its own for each seed: a study draw never takes two ECGs whose
    beats line up, so the records of a test pool differ in heart rate."""
    return synthetic_ecg(fs, seed=seed, heart_rate=48 + (seed * 29) % 97)


class EcgRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EcgRecord

    class Params:
        seed = factory.Sequence(int)

    origin = Origin.REAL
    dataset = "testset"
    source_id = factory.Sequence(lambda n: f"rec{n:04d}")
    fs = 100
    n_samples = 1000
    rhythm = Rhythm.SR
    normal = True
    labels = factory.LazyFunction(lambda: ["Sinus rhythm"])

    @factory.lazy_attribute
    def signal(self):
        payload = signal_to_bytes(distinct_ecg(self.fs, self.seed), self.fs)
        return ContentFile(payload, name=f"{uuid.uuid4().hex}.npz")

    @factory.lazy_attribute
    def signal_sha256(self):
        return hashlib.sha256(self.signal.read()).hexdigest()

    @factory.lazy_attribute
    def sheet(self):
        svg = render_sheet(distinct_ecg(self.fs, self.seed), self.fs)
        return ContentFile(svg.encode(), name=f"{uuid.uuid4().hex}.svg")


class GenerationJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GenerationJob

    checkpoint_path = "/checkpoints/demo-checkpoint.pt"
    checkpoint_sha256 = "ab" * 32
    plan = factory.LazyFunction(lambda: [[["AF"], 10], [["SR"], 10]])
    sampler = "ddim"
    steps = 50
    guidance = 1.0
    seed = 7
    chunk_size = 8
    total = 20
    status = GenerationJob.Status.DONE


class SyntheticRecordFactory(EcgRecordFactory):
    """A synthetic ECG as generate_pool stores it (dataset "synthetic", provenance)."""

    origin = Origin.SYNTHETIC
    dataset = "synthetic"
    generation_job = factory.SubFactory(GenerationJobFactory)
    generation_index = factory.Sequence(int)
    source_id = factory.LazyAttribute(
        lambda o: f"job{o.generation_job.pk}-{o.generation_index}"
    )
    generation_seed = 12345
    synthetic_source = factory.LazyAttribute(
        lambda o: synthetic_source_for_job(job=o.generation_job)
    )
    labels = factory.LazyAttribute(lambda o: [o.rhythm])
    normal = None


class SyntheticSourceFactory(factory.django.DjangoModelFactory):
    """Another group's published set, as import_synthetic records it."""

    class Meta:
        model = SyntheticSource
        django_get_or_create = ("name", "version")

    name = "SSSD-ECG"
    version = "2023"
    citation = "Alcaraz & Strodthoff, Comput Biol Med 163:107115 (2023)"
    kind = SyntheticSource.Kind.IMPORTED


class ImportedRecordFactory(EcgRecordFactory):
    """A synthetic ECG filed by import_synthetic: a source, no job."""

    origin = Origin.SYNTHETIC
    dataset = "synthetic"
    synthetic_source = factory.SubFactory(SyntheticSourceFactory)
    source_id = factory.Sequence(lambda n: f"src-imported-{n}")
    labels = factory.LazyAttribute(lambda o: [o.rhythm])
    normal = None


READER_PASSWORD = "pass-word-123"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(READER_PASSWORD)


class ReaderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reader

    user = factory.SubFactory(UserFactory)
    site = "Site A"
    experience = "cardiologist"
