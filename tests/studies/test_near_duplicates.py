"""No study draws the same ECG twice, even when two records hold it."""

import hashlib

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from ecgstudy.pool.models import Origin, Rhythm
from ecgstudy.pool.services import signal_to_bytes
from ecgstudy.pool.similarity import near_duplicate_guard
from ecgstudy.studies.models import CaseQuota, Study
from ecgstudy.studies.services import study_launch
from generator.ecg import canonicalize
from tests.factories import EcgRecordFactory, ReaderFactory, distinct_ecg
from tests.signals import recording


def test_a_shifted_rescaled_noisy_copy_is_a_near_duplicate_and_a_stranger_not():
    guard = near_duplicate_guard(100, 1000)
    first = canonicalize(recording(1), 500)
    guard.take(first)
    rng = np.random.default_rng(0)
    copy = 1.3 * np.roll(first, 37, axis=1) + rng.normal(0, 0.002, first.shape)
    assert guard.similarity(copy) > 0.95 and guard.is_near_duplicate(copy)
    stranger = canonicalize(recording(2), 500)
    assert guard.similarity(stranger) < 0.8
    assert not guard.is_near_duplicate(stranger)


def _record_holding(signal: np.ndarray, **fields):
    payload = signal_to_bytes(signal, 100)
    return EcgRecordFactory(
        signal=ContentFile(payload, name="twin.npz"),
        signal_sha256=hashlib.sha256(payload).hexdigest(),
        rhythm=Rhythm.SR,
        **fields,
    )


def _study(count: int, seed: int) -> Study:
    study = Study.objects.create(name=f"Twins {seed}", seed=seed, repeat_fraction=0)
    CaseQuota.objects.create(
        study=study, origin=Origin.REAL, rhythm=Rhythm.SR, count=count
    )
    return study


@pytest.mark.django_db
def test_a_study_never_draws_both_records_of_one_ecg():
    twins = []
    for k in range(4):
        signal = distinct_ecg(100, 100 + k)
        # The same ECG filed twice: exactly, and cropped 0.3 s later with noise.
        shifted = np.roll(signal, 30, axis=1) + np.float32(0.001)
        twins.append({_record_holding(signal).pk, _record_holding(shifted).pk})
    ReaderFactory()
    for seed in range(12):  # every draw, whatever the seed
        study = study_launch(study=_study(4, seed))
        drawn = set(study.cases.values_list("record_id", flat=True))
        assert all(len(drawn & pair) == 1 for pair in twins), seed
    with pytest.raises(ValidationError, match="4 distinct in the pool"):
        study_launch(study=_study(5, 99))
