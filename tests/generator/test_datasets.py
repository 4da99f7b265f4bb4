"""Dataset layouts: which records exist and how their labels are normalised."""

import csv

import pytest

from generator.datasets import (
    DatasetError,
    detect_format,
    iter_index,
    iter_records,
    read_labels_csv,
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
        (["Atrial fibrillation", "Biventricular pacing"], "PACED"),
        (["Sinus rhythm", "UNIpolar atrial pacing"], "PACED"),
        (["Sinus rhythm", "Wandering atrial pacemaker"], "SR"),
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
    paced = []
    for record in records:
        row = index[str(record.path.relative_to(ecg_data_dir))]
        if "pacing" in row["labels"].lower():
            # The index files paced records by their underlying rhythm; a reader
            # sees the pacemaker, so the pool files them as PACED.
            paced.append(int(record.record_id))
            assert record.rhythm == "PACED", record.record_id
            continue
        assert record.rhythm == row["rhythm"], record.record_id
        assert record.normal == (row["normal"] == "1"), record.record_id
        assert record.age == int(row["age"]) and record.sex == row["sex"]
    assert sorted(paced) == [8, 34, 45, 74, 90, 93, 95, 104, 111]


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


def test_discovery_survives_headers_it_cannot_read(tmp_path):
    write_record(tmp_path, "good", synthetic_ecg(500), 500, comments=["Age: 40"])
    write_record(tmp_path, "infage", synthetic_ecg(500), 500, comments=["Age: inf"])
    (tmp_path / "x.hea").mkdir()
    (tmp_path / "loop.hea").symlink_to(tmp_path / "loop.hea")
    assert detect_format(tmp_path) == "folder"
    records = {r.record_id: r for r in iter_records(tmp_path, "folder")}
    # Unreadable headers are still listed: reading their signal names the problem.
    assert set(records) == {"good", "infage", "x", "loop"}
    assert records["good"].age == 40 and records["good"].warnings == ()
    assert records["infage"].age is None
    assert records["infage"].warnings == (
        "age 'inf' is not an age in years from 0 to 120; stored as unknown",
    )


def test_dotted_record_names_keep_their_whole_name(tmp_path):
    write_record(tmp_path, "rec", synthetic_ecg(500), 500)
    (tmp_path / "rec.v2.hea").write_text((tmp_path / "rec.hea").read_text())
    records = {r.record_id: r.path for r in iter_records(tmp_path, "folder")}
    assert records == {"rec": tmp_path / "rec", "rec.v2": tmp_path / "rec.v2"}


@pytest.mark.parametrize(
    ("age", "expected", "warned"),
    [("67", 67, False), ("NaN", None, False), ("Unknown", None, False)]
    + [(">89", None, False), ("", None, False)]
    + [("inf", None, True), ("-3", None, True), ("1e400", None, True)]
    + [("abc", None, True), ("150", None, True)],
)
def test_header_ages_are_read_or_stored_as_unknown_with_a_warning(
    tmp_path, age, expected, warned
):
    write_record(tmp_path, "r", synthetic_ecg(500), 500, comments=[f"Age: {age}"])
    (record,) = iter_records(tmp_path, "challenge")
    assert record.age == expected
    assert bool(record.warnings) == warned


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"record,labels,normal\nr1,SR,1\nr2\n", "line 3: 1 fields, but the header"),
        (b"record,labels\nr1,SR,extra\n", "line 2: 3 fields, but the header has 2"),
        (b"record,labels\nr1,Sinus \xe4\n", "line 2: not UTF-8"),
        (b"record,normal\nr1,maybe\n", "line 2: normal 'maybe'"),
        (b"record,age\nr1,inf\n", "line 2: age 'inf' is not an age in years"),
        (b"record,rhythm\nr1,VT\n", "line 2: unknown rhythm 'VT'"),
        (b"record,labels\n,SR\n", "line 2: empty record name"),
        (b"record,labels\nr1,SR\nr1,AF\n", "line 3: record r1 is already on line 2"),
        (b"", "is empty; needs a header row with a 'record' column"),
    ],
)
def test_bad_labels_csv_is_a_clear_error_naming_file_and_line(
    tmp_path, content, message
):
    labels = tmp_path / "labels.csv"
    labels.write_bytes(content)
    with pytest.raises(DatasetError, match=f"labels.csv {message}"):
        read_labels_csv(labels)


def test_labels_csv_that_is_a_folder_or_missing_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="labels.csv not found"):
        read_labels_csv(tmp_path / "labels.csv")
    (tmp_path / "labels.csv").mkdir()
    with pytest.raises(DatasetError, match="labels.csv is a folder, not a CSV file"):
        read_labels_csv(tmp_path / "labels.csv")
