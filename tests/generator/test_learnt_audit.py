"""The memorisation audit looks for copies of every patient the generator
learnt from: the shape and millivolt folders besides the dataset's train split."""

import numpy as np
import wfdb

from generator import evaluate as ev
from generator.data import AUDIT_STEP_S, learnt_ecgs
from generator.ecg import LEADS
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

    learnt = ev.with_learnt(train, [shape])
    assert len(learnt) == 6 + 3 and learnt.ids[6:] == [
        "ptbxl-shape/0",
        "ptbxl-shape/1",
        "ptbxl-shape/2",
    ]
    memo = ev.memorisation(synthetic, learnt, unseen)
    assert [(f["synthetic"], f["train"]) for f in memo["flagged"]] == [
        ("s0", "ptbxl-shape/1")
    ]
