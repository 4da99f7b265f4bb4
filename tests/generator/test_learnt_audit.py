"""The memorisation audit looks for copies of every patient the generator
learnt from: the shape and millivolt folders besides the dataset's train split."""

import numpy as np
import pytest
import wfdb

from generator import evaluate as ev
from generator.data import AUDIT_STEP_S, learnt_ecgs
from generator.ecg import LEADS
from generator.similarity import Collection
from tests.generator.test_evaluate import _patients, _set
from tests.generator.test_train import write_shape_folder, write_voltage_folder


def _long_record(folder, seconds: int, fs: int = 100) -> np.ndarray:
    """A plain millivolt folder holding one long record; returns its signal."""
    folder.mkdir(parents=True)
    signal = _patients(50, 1)[0]
    signal = np.concatenate([signal] * (seconds // 10 + 1), axis=1)[:, : seconds * fs]
    wfdb.wrsamp(
        "long",
        fs=fs,
        units=["mV"] * 12,
        sig_name=list(LEADS),
        p_signal=signal.T.astype(np.float64),
        fmt=["16"] * 12,
        write_dir=str(folder),
    )
    return signal


def test_learnt_ecgs_are_the_train_rows_and_every_stretch_of_long_records(tmp_path):
    shape = tmp_path / "ptbxl-shape"
    write_shape_folder(shape, ["train", "test", "train", "exclude", "val"])
    signals, ids = learnt_ecgs(shape)
    assert ids == ["ptbxl-shape/0", "ptbxl-shape/2"]  # never test, exclude or val
    stored = np.load(shape / "signals_100hz.npy")
    assert np.array_equal(signals, stored[[0, 2]].astype(np.float32))

    code15 = tmp_path / "code15"
    write_voltage_folder(code15, [("a", "train", ""), ("b", "test", "")])
    signals, ids = learnt_ecgs(code15)
    assert ids == ["code15/records/a"] and signals.shape == (1, 12, 1000)

    _long_record(tmp_path / "long", seconds=23)
    signals, ids = learnt_ecgs(tmp_path / "long")
    # windows every 4 s, and the last one flush with the end: no stretch of
    # 10 s is more than 2 s (the audit's shift) from a window
    assert AUDIT_STEP_S == 4
    assert ids == [f"long/long@{s}s" for s in (0, 4, 8, 12, 13)]
    assert signals.shape == (5, 12, 1000)


def test_a_copy_of_a_shape_data_patient_is_flagged_only_with_that_folder(tmp_path):
    shape = tmp_path / "ptbxl-shape"
    write_shape_folder(shape, ["train"] * 3 + ["test"])
    learnt_signals, _ = learnt_ecgs(shape)
    train, unseen = _set(_patients(0, 6), "t"), _set(_patients(100, 12), "u")
    # the synthetic ECG: a PTB-XL training patient, 60 ms later, in millivolts
    copy = 0.3 * np.roll(learnt_signals[1], 6, axis=1)
    stranger = _patients(300, 1)[0]
    synthetic = _set(np.stack([copy, stranger]).astype(np.float32), "s")

    alone = ev.memorisation(synthetic, train, unseen)
    assert alone["flagged"] == []  # the dataset's train split alone misses it

    learnt, _ = ev.learnt_set(train, [shape])
    assert len(learnt) == 6 + 3 and learnt.ids[6:] == [
        "ptbxl-shape/0",
        "ptbxl-shape/1",
        "ptbxl-shape/2",
    ]
    memo = ev.memorisation(synthetic, learnt, unseen)
    assert [(f["synthetic"], f["train"]) for f in memo["flagged"]] == [
        ("s0", "ptbxl-shape/1")
    ]


def _family(first_seed: int, n: int) -> np.ndarray:
    """ECGs of n distinct patients of one collection whose patients are alike
    (one device, one population): a shared waveform and each patient's own."""
    shared = _patients(999, 1)[0]
    return (shared + 0.45 * _patients(first_seed, n)).astype(np.float32)


def _collections(n_train: int) -> list:
    return [
        Collection("train split", np.arange(n_train)),
        Collection("alike", np.arange(n_train, n_train + 10), _family(520, 30)),
    ]


def test_each_collection_is_judged_by_its_own_unseen_patients():
    train, unseen = _patients(0, 6), _patients(100, 12)
    learnt = _set(np.concatenate([train, _family(500, 10)]), "t")
    relative = _family(600, 1)[0]  # a new patient of the alike collection
    rng = np.random.default_rng(3)
    copy = 0.6 * np.roll(learnt.signals[8], 12, axis=1)  # a copy of one of them
    copy = copy + rng.normal(0, 0.05, copy.shape)
    synthetic = _set(np.stack([relative, copy]).astype(np.float32), "s")

    # judged by the millivolt test patients, a new member of an alike
    # collection looks like a copy
    single = ev.memorisation(synthetic, learnt, _set(unseen, "u"))
    assert [f["synthetic"] for f in single["flagged"]] == ["s0", "s1"]

    memo = ev.memorisation(
        synthetic, learnt, _set(unseen, "u"), collections=_collections(6)
    )
    assert [(f["synthetic"], f["train"]) for f in memo["flagged"]] == [("s1", "t8")]
    groups = {g["name"]: g for g in memo["collections"]}
    alike, own = groups["alike"], groups["train split"]
    assert alike["judged_by"] == "its own unseen patients" and alike["n_unseen"] == 30
    assert own["judged_by"] == "the dataset's unseen patients"
    assert own["n_unseen"] == 12
    # distinct patients of the alike collection come far closer to each other
    assert alike["threshold"] < own["threshold"] - 0.2
    # the new patient: closer to the alike collection than the millivolt
    # patients come to theirs, not closer than its own kind come to it
    to_alike = alike["synthetic_to_train"]["values"][0]
    assert alike["threshold"] < to_alike < own["threshold"]
    assert memo["synthetic_to_train"]["values"][0] == to_alike  # its nearest
    assert memo["flagged"][0]["collection"] == "alike"
    assert memo["flagged"][0]["threshold"] == alike["threshold"]
    assert memo["closest_pair"]["synthetic"] == "s1"


def test_a_folders_own_held_out_patients_judge_it(tmp_path):
    shape = tmp_path / "ptbxl-shape"
    write_shape_folder(shape, ["train", "test", "train", "exclude", "val"])
    _long_record(tmp_path / "long", seconds=12)
    train = _set(_patients(0, 3), "t")
    learnt, collections = ev.learnt_set(
        train, [shape, tmp_path / "long"], ev.UNSEEN_SPLITS
    )
    # the long record has no held-out patients: it joins the train split's
    # collection, judged by the dataset's unseen patients
    assert [c.name for c in collections] == ["train split, long", "ptbxl-shape"]
    assert list(collections[0].rows) == [0, 1, 2, 5, 6]
    assert list(collections[1].rows) == [3, 4]
    stored = np.load(shape / "signals_100hz.npy")
    # its val and test patients, never its train or exclude rows
    assert np.array_equal(collections[1].unseen, stored[[4, 1]].astype(np.float32))
    assert collections[0].unseen is None
    _, by_test = ev.learnt_set(train, [shape], ["test"])
    assert np.array_equal(by_test[1].unseen, stored[[1]].astype(np.float32))
    _, alone = ev.learnt_set(train, [shape])  # no split asked: one collection
    assert [c.name for c in alone] == ["train split, ptbxl-shape"]


def test_the_report_says_how_many_flags_new_patients_would_get():
    """Each ECG of a generator whose ECGs are as new as unseen patients passes the
    closest of k of them with probability 1/(k + 1); a generator that leans on its
    training patients comes closer to them than unseen patients do as a set."""
    train = _set(_patients(0, 8), "t")
    unseen = _set(_patients(100, 19), "u")
    novel = _set(_patients(200, 40), "s")
    memo = ev.memorisation(novel, train, unseen)
    assert memo["expected_if_novel"] == 40 / 20
    assert memo["collections"][0]["synthetic_closer_p"] > 0.05

    rng = np.random.default_rng(5)  # noisy, rescaled, shifted takes of training ECGs
    leaning = np.stack(
        [
            0.7 * np.roll(train.signals[i % 8], 5 * i, axis=1)
            + rng.normal(0, 0.6, train.signals[0].shape)
            for i in range(40)
        ]
    ).astype(np.float32)
    memo = ev.memorisation(_set(leaning, "s"), train, unseen)
    assert memo["collections"][0]["synthetic_closer_p"] < 1e-6


def test_the_bar_is_set_by_every_patient_the_generator_never_saw(ecg_data_dir):
    unseen = ev.load_unseen(ecg_data_dir)
    val, test = ev.load_split(ecg_data_dir, "val"), ev.load_split(ecg_data_dir, "test")
    assert unseen.ids == val.ids + test.ids
    assert np.array_equal(unseen.signals, np.concatenate([val.signals, test.signals]))


def test_a_folder_without_unseen_patients_is_refused(tmp_path):
    (tmp_path / "index.csv").write_text(
        "path,dataset,record_id,fs,n_leads,n_samples,duration_s,labels,rhythm,"
        "afib,normal,age,sex,license,duplicate_of,split\n"
        "records/1,x,1,100,12,1000,10.0,SR,SR,0,1,,,,,train\n"
    )
    with pytest.raises(ValueError, match="no val or test records"):
        ev.load_unseen(tmp_path)
