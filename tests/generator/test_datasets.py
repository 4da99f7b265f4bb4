"""Dataset layouts: which records exist and how their labels are normalised."""

import csv

import pytest

from generator.datasets import (
    DatasetError,
    detect_format,
    iter_index,
    iter_records,
    rhythm_from_text,
)
from tests.generator.test_canonical_form import write_record
from tests.mimic_layout import build_mimic_folder
from tests.signals import synthetic_ecg


@pytest.mark.parametrize(
    ("text", "rhythm"),
    [
        (["Sinus rhythm", "Normal ECG"], "SR"),
        (["Atrial fibrillation with rapid ventricular response"], "AF"),
        (["Sinus rhythm", "Atrial flutter with 2:1 A-V conduction"], "AFL"),
        (["Sinus bradycardia"], "SB"),
        (["Sinus tachycardia"], "STach"),
        (["Rhythm: Irregular sinus rhythm"], "SA"),
        (["Ventricular pacing"], "PACED"),
        (["Junctional rhythm"], "other"),
    ],
)
def test_free_text_rhythm_statements_are_normalised(text, rhythm):
    assert rhythm_from_text(text) == rhythm


def test_mimic_layout_reads_reports_as_labels(tmp_path):
    root = build_mimic_folder(tmp_path / "mimic")
    records = {r.record_id: r for r in iter_records(root, "mimic")}
    assert set(records) == {"40689238", "40689239", "40689240"}
    assert records["40689238"].rhythm == "SR" and records["40689238"].normal is True
    assert records["40689239"].rhythm == "AF" and records["40689239"].normal is False
    assert records["40689240"].rhythm == "SB"
    assert records["40689238"].path.with_suffix(".hea").is_file()
    assert detect_format(root) == "mimic"


def test_challenge_header_gives_snomed_labels_age_and_sex(tmp_path):
    comments = ["Age: 67", "Sex: Female", "Dx: 164889003,59118001", "Rx: Unknown"]
    write_record(tmp_path, "A0042", synthetic_ecg(500), 500, comments=comments)
    (record,) = iter_records(tmp_path, "challenge")
    assert record.labels == ("164889003", "59118001")
    assert (record.rhythm, record.normal, record.age, record.sex) == (
        "AF",
        False,
        67,
        "F",
    )


def test_labels_csv_overrides_and_rejects_unknown_rhythms(tmp_path):
    write_record(tmp_path, "r1", synthetic_ecg(500), 500)
    labels = tmp_path / "labels.csv"
    labels.write_text("record,labels,normal,age,sex\nr1,Atrial fibrillation,0,70,M\n")
    (record,) = iter_records(tmp_path, "folder", labels_csv=labels)
    assert (record.rhythm, record.normal, record.age, record.sex) == (
        "AF",
        False,
        70,
        "M",
    )
    labels.write_text("record,rhythm\nr1,VT\n")
    with pytest.raises(DatasetError, match="unknown rhythm 'VT'"):
        list(iter_records(tmp_path, "folder", labels_csv=labels))
    labels.write_text("name,labels\nr1,x\n")
    with pytest.raises(DatasetError, match="needs a 'record' column"):
        list(iter_records(tmp_path, "folder", labels_csv=labels))


def test_unknown_format_and_missing_folder_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="unknown format 'edf'"):
        list(iter_records(tmp_path, "edf"))
    with pytest.raises(DatasetError, match="is not a folder"):
        list(iter_records(tmp_path / "absent", "ludb"))
    with pytest.raises(DatasetError, match="ptbxl_database.csv not found"):
        list(iter_records(tmp_path, "ptbxl"))
    with pytest.raises(DatasetError, match="no WFDB header"):
        list(iter_records(tmp_path, "challenge"))


def test_shared_layouts_are_detected(ecg_data_dir):
    assert detect_format(ecg_data_dir) is None  # a parent of several datasets
    assert detect_format(ecg_data_dir / "ptbxl") == "ptbxl"
    assert detect_format(ecg_data_dir / "ludb") == "ludb"
    assert detect_format(ecg_data_dir / "cinc2021") == "challenge"
    assert detect_format(ecg_data_dir / "ptbdb") == "folder"


def test_ludb_labels_agree_with_the_curated_index(ecg_data_dir):
    with (ecg_data_dir / "index.csv").open() as handle:
        index = {row["path"]: row for row in csv.DictReader(handle)}
    records = list(iter_records(ecg_data_dir / "ludb", "ludb"))
    assert len(records) == 200
    for record in records:
        row = index[str(record.path.relative_to(ecg_data_dir))]
        assert record.rhythm == row["rhythm"], record.record_id
        assert record.normal == (row["normal"] == "1"), record.record_id
        assert record.age == int(row["age"]) and record.sex == row["sex"]


def test_ptbxl_statements_give_rhythm_and_normal(ecg_data_dir):
    records = {r.record_id: r for r in iter_records(ecg_data_dir / "ptbxl", "ptbxl")}
    assert len(records) == 11
    first = records["1"]
    assert first.path.name == "00001_lr"  # only the 100-Hz file is present
    assert "NORM" in first.labels and first.rhythm == "SR" and first.normal
    assert records["6003"].rhythm == "STach"


def test_index_never_mixes_test_with_training_splits(ecg_data_dir):
    with pytest.raises(ValueError, match="never mix the held-out test split"):
        list(iter_index(ecg_data_dir, ["train", "test"]))
    train = list(iter_index(ecg_data_dir, ["train"]))
    assert train and all(r.split == "train" for r in train)


def test_ptbxl_likelihood_threshold_drops_uncertain_statements(ecg_data_dir):
    every = {r.record_id: r for r in iter_records(ecg_data_dir / "ptbxl", "ptbxl")}
    sure = {
        r.record_id: r
        for r in iter_records(ecg_data_dir / "ptbxl", "ptbxl", min_likelihood=100)
    }
    assert "LVOLT" in every["1"].labels  # likelihood 0 in ptbxl_database.csv
    assert "LVOLT" not in sure["1"].labels
    assert "SR" in sure["1"].labels  # rhythm statements are always kept
