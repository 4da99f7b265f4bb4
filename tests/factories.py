"""factory_boy factories of pool records with synthetic signals and sheets."""

import hashlib

import factory
from django.core.files.base import ContentFile

from ecgstudy.pool.models import EcgRecord, Origin, Rhythm
from ecgstudy.pool.render import render_sheet
from ecgstudy.pool.services import signal_to_bytes
from tests.signals import synthetic_ecg


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
        payload = signal_to_bytes(synthetic_ecg(self.fs, seed=self.seed), self.fs)
        return ContentFile(payload, name="signal.npz")

    @factory.lazy_attribute
    def signal_sha256(self):
        return hashlib.sha256(self.signal.read()).hexdigest()

    @factory.lazy_attribute
    def sheet(self):
        svg = render_sheet(synthetic_ecg(self.fs, seed=self.seed), self.fs)
        return ContentFile(svg.encode(), name="sheet.svg")
