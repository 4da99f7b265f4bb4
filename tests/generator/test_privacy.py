"""No synthetic ECG is kept closer to a training patient than unseen patients come."""

import csv

import numpy as np
import pytest
import wfdb

from generator.ecg import LEADS, canonicalize
from generator.privacy import (
    MAX_REDRAWS,
    build_reference,
    generate_private,
    load_reference,
    redraw_seed,
)
from tests.generator.test_evaluate import _patients


def test_a_copy_of_a_training_patient_is_redrawn_and_the_redraw_recorded():
    train, unseen = _patients(0, 6), _patients(100, 12)
    reference = build_reference(train, [f"t{i}" for i in range(6)], unseen)
    rng = np.random.default_rng(3)
    copy = 0.8 * np.roll(train[4], 12, axis=1) + rng.normal(0, 0.05, train[4].shape)
    stranger = _patients(300, 1)[0]
    asked = []

    def generate_one(seed):
        asked.append(seed)
        return _patients(400 + len(asked), 1)[0]

    kept, checks = generate_private(
        generate_one, np.stack([stranger, copy]), seed=9, reference=reference
    )
    assert np.array_equal(kept[0], stranger) and checks[0].redraws == 0
    assert checks[1].redraws == 1 and asked == [redraw_seed(9, 1, 1)]
    assert checks[1].similarity < reference.ceiling
    assert not np.array_equal(kept[1], copy)


def test_a_generator_that_only_copies_is_stopped():
    train, unseen = _patients(0, 4), _patients(100, 8)
    reference = build_reference(train, list("abcd"), unseen)
    with pytest.raises(ValueError, match=f"after {MAX_REDRAWS} redraws"):
        generate_private(lambda seed: train[1], train[1:2], 0, reference)


def write_reference_folder(root, train, unseen, fs=100):
    """An index.csv folder of 12-lead WFDB records: train and val splits."""
    (root / "rec").mkdir(parents=True)
    rows = []
    for split, signals in (("train", train), ("val", unseen)):
        for signal in signals:
            name = f"r{len(rows)}"
            wfdb.wrsamp(
                name,
                fs=fs,
                units=["mV"] * 12,
                sig_name=list(LEADS),
                p_signal=np.asarray(signal, dtype=np.float64).T,
                fmt=["16"] * 12,
                adc_gain=[1000.0] * 12,
                baseline=[0] * 12,
                write_dir=str(root / "rec"),
            )
            rows.append(
                {"path": f"rec/{name}", "dataset": "ref", "record_id": name}
                | {"rhythm": "SR", "labels": "SR", "normal": "0", "split": split}
                | {"age": "", "sex": "", "fs": fs}
            )
    with open(root / "index.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    load_reference.cache_clear()


def test_a_reference_folder_is_judged_by_its_unseen_patients(tmp_path):
    train, unseen = _patients(0, 5), _patients(100, 6)
    write_reference_folder(tmp_path, train, unseen)
    reference = load_reference(str(tmp_path))
    assert len(reference.ids) == 5
    assert 0 < reference.ceiling < 0.9
    stored = canonicalize(train[2], 100)  # as the folder's record reads
    similarity, nearest, ceiling = reference.nearest(stored)
    assert similarity == pytest.approx(1, abs=1e-3) and nearest == "ref/r2"
    assert ceiling == reference.ceiling
    assert reference.too_close(stored)


@pytest.mark.data
def test_one_recording_filed_at_two_rates_does_not_set_the_ceiling(ecg_data_dir):
    """PTB-XL record 1 is in the shared set twice: its 100-Hz file (val) and the
    500-Hz copy of the CinC 2021 set (train), 0.966 alike. Counted as an unseen
    patient it would let every synthetic ECG below 0.966 pass."""
    load_reference.cache_clear()
    reference = load_reference(str(ecg_data_dir))
    assert 0.5 < reference.ceiling < 0.9


def test_the_pool_judges_each_collection_by_its_own_unseen_patients():
    from tests.generator.test_learnt_audit import _collections, _family

    train = np.concatenate([_patients(0, 6), _family(500, 10)])
    ids = [f"t{i}" for i in range(len(train))]
    unseen = _patients(100, 12)
    relative = _family(600, 1)[0]  # a new patient of a collection of alike ones
    copy = 0.6 * np.roll(train[8], 12, axis=1)

    single = build_reference(train, ids, unseen)
    assert single.too_close(relative)  # the millivolt patients' bar calls it a copy
    reference = build_reference(train, ids, unseen, collections=_collections(6))
    assert not reference.too_close(relative)
    similarity, nearest, ceiling = reference.nearest(copy)
    assert nearest == "t8" and similarity > ceiling > reference.ceiling
    assert reference.too_close(copy)
