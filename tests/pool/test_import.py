"""`manage.py import_ecgs`: each valid record once, clear reasons, no half-writes."""

import csv
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ecgstudy.pool.models import EcgRecord, Origin
from ecgstudy.pool.selectors import record_sheet_svg, record_signal
from ecgstudy.pool.services import ecg_import
from generator.ecg import load_canonical
from tests.generator.test_canonical_form import write_record
from tests.mimic_layout import build_mimic_folder
from tests.signals import synthetic_ecg

pytestmark = pytest.mark.django_db

# Folder of the shared set -> the layout its records are imported in.
SHARED_LAYOUTS = {
    "chapman": "challenge",
    "cinc2020_extra": "challenge",
    "cinc2021": "challenge",
    "cinc2021_extra": "challenge",
    "ludb": "ludb",
    "ptbdb": "folder",
    "ptbxl": "ptbxl",
}


def files_under(root: Path) -> list[Path]:
    return [p for p in Path(root).rglob("*") if p.is_file()] if root.exists() else []


def run_import(*args) -> str:
    out = StringIO()
    call_command("import_ecgs", *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


def test_whole_shared_set_imports_each_valid_record_once(ecg_data_dir, settings):
    outputs = {}
    for folder, fmt in SHARED_LAYOUTS.items():
        outputs[folder] = run_import(ecg_data_dir / folder, "--format", fmt)

    with (ecg_data_dir / "index.csv").open() as handle:
        index = list(csv.DictReader(handle))
    dataset_of = {"challenge": "challenge", "ludb": "ludb", "ptbxl": "ptbxl"}
    rejected = {"JS20004", "JS20008", "JS45542", "JS45544", "JS45551"}  # flat leads
    for row in index:
        fmt = SHARED_LAYOUTS[row["path"].split("/")[0]]
        dataset = dataset_of.get(fmt, row["dataset"])
        found = EcgRecord.objects.filter(dataset=dataset, source_id=row["record_id"])
        assert found.count() == (0 if row["record_id"] in rejected else 1), row["path"]
    for record_id in rejected:
        assert f"failed challenge/{record_id}: flat line in lead(s)" in "".join(
            outputs.values()
        )
    # Duplicates across Challenge folders are recognised, not imported twice.
    assert "skipped 8: already in the pool" in outputs["cinc2021_extra"]

    total = EcgRecord.objects.count()
    assert total == len(index) - len(rejected) - 8
    record = EcgRecord.objects.get(dataset="ludb", source_id="1")
    assert (record.fs, record.n_samples, record.origin) == (100, 1000, Origin.REAL)
    assert (record.rhythm, record.age, record.sex) == ("SB", 51, "F")
    signal = record_signal(record=record)
    assert signal.shape == (12, 1000) and signal.dtype == np.float32
    assert record_sheet_svg(record=record).startswith(b"<svg")
    # Paced recordings are filed as PACED, whatever rhythm lies beneath.
    paced = EcgRecord.objects.filter(dataset="ludb", rhythm="PACED")
    assert sorted(int(pk) for pk in paced.values_list("source_id", flat=True)) == [
        8, 34, 45, 74, 90, 93, 95, 104, 111,
    ]  # fmt: skip

    again = run_import(ecg_data_dir / "ludb", "--format", "ludb")
    assert "imported 0, skipped 200, failed 0" in again
    assert EcgRecord.objects.count() == total
    assert len(files_under(settings.MEDIA_ROOT)) == 2 * total  # signal + sheet each


def test_mimic_layout_imports_with_normalised_labels(tmp_path):
    root = build_mimic_folder(tmp_path / "mimic")
    output = run_import(root, "--format", "mimic")
    assert "imported 3, skipped 0, failed 0" in output
    af = EcgRecord.objects.get(dataset="mimic-iv-ecg", source_id="40689239")
    assert af.rhythm == "AF" and af.normal is False
    assert af.labels[0].startswith("Atrial fibrillation")


def test_format_is_detected_when_not_given(tmp_path):
    root = build_mimic_folder(tmp_path / "mimic")
    assert "(mimic): imported 3" in run_import(root)


def test_dry_run_writes_nothing(tmp_path, settings):
    root = build_mimic_folder(tmp_path / "mimic")
    output = run_import(root, "--format", "mimic", "--dry-run")
    assert "would import 3" in output
    assert EcgRecord.objects.count() == 0
    assert files_under(settings.MEDIA_ROOT) == []


def test_bad_records_are_reported_and_good_ones_kept(tmp_path):
    write_record(tmp_path, "good", synthetic_ecg(500), 500)
    write_record(tmp_path, "short", synthetic_ecg(500, seconds=6), 500)
    write_record(tmp_path, "nodat", synthetic_ecg(500), 500)
    (tmp_path / "nodat.dat").unlink()
    write_record(tmp_path, "threeleads", synthetic_ecg(500)[:3], 500, ("I", "II", "V1"))
    (tmp_path / "broken.hea").write_text("broken 12 500\nthis is not a header\n")
    output = run_import(tmp_path, "--format", "folder", "--dataset", "mixed")
    assert "imported 1, skipped 0, failed 4" in output
    assert "failed mixed/short: record too short: 6.00 s, needs 10 s" in output
    assert "failed mixed/nodat: signal file nodat.dat not found" in output
    assert "failed mixed/threeleads: missing leads III" not in output
    assert "failed mixed/threeleads: missing leads V2, V3, V4, V5, V6" in output
    assert "failed mixed/broken: corrupt header" in output
    assert list(EcgRecord.objects.values_list("source_id", flat=True)) == ["good"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/folder"], "is not a folder"),
        (["{tmp}", "--format", "ptbxl"], "ptbxl_database.csv not found"),
        (["{tmp}"], "no known layout found"),
        (["{tmp}", "--fs", "-5"], "--fs must be a positive rate"),
    ],
)
def test_bad_paths_and_options_are_clear_errors(tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        run_import(*(a.format(tmp=tmp_path) for a in args))
    assert EcgRecord.objects.count() == 0


def test_crash_mid_chunk_leaves_no_partial_rows_or_files(
    tmp_path, settings, monkeypatch
):
    for k in range(5):
        write_record(tmp_path, f"r{k}", synthetic_ecg(500, seed=k), 500)
    calls = {"n": 0}
    create = EcgRecord.objects.create

    def failing_create(**kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("disk full")
        return create(**kwargs)

    monkeypatch.setattr(EcgRecord.objects, "create", failing_create)
    with pytest.raises(OSError, match="disk full"):
        ecg_import(root=tmp_path, fmt="folder", chunk_size=3)
    # The first chunk of three was committed whole; the failed chunk left nothing.
    assert EcgRecord.objects.count() == 3
    assert len(files_under(settings.MEDIA_ROOT)) == 6


def rewrite_record_line(header: Path, field: int, value: str) -> None:
    """Replace one field of a WFDB header's record line (0 name, 1 n_sig, 2 fs)."""
    lines = header.read_text().splitlines()
    fields = lines[0].split()
    fields[field] = value
    lines[0] = " ".join(fields)
    header.write_text("\n".join(lines) + "\n")


def build_folder_of_bad_records(root: Path) -> dict[str, str]:
    """Good records beside every kind of bad one; returns record -> failure reason."""
    for name, seed in (("good1", 1), ("good2", 2), ("rec", 3)):
        write_record(root, name, synthetic_ecg(500, seed=seed), 500)
    write_record(root, "infage", synthetic_ecg(500, seed=4), 500, comments=["Age: inf"])

    # A record named rec.v2 beside rec: never read as rec.
    write_record(root, "recv2", synthetic_ecg(500, seed=5, heart_rate=120), 500)
    text = (root / "recv2.hea").read_text().replace("recv2", "rec.v2")
    (root / "rec.v2.hea").write_text(text)
    (root / "recv2.dat").rename(root / "rec.v2.dat")
    (root / "recv2.hea").unlink()

    for name, fs in (("fsnan", "nan"), ("fsneg", "-500"), ("fsmilli", "0.001")):
        write_record(root, name, synthetic_ecg(500), 500)
        rewrite_record_line(root / f"{name}.hea", 2, fs)

    # A signal file that is a symbolic link out of the dataset folder.
    elsewhere = write_record(
        root.parent / "elsewhere", "outside", synthetic_ecg(500), 500
    )
    (root / "outside.hea").write_text(elsewhere.with_suffix(".hea").read_text())
    (root / "outside.dat").symlink_to(elsewhere.with_suffix(".dat"))

    (root / "x.hea").mkdir()  # a folder that looks like a header
    (root / "loop.hea").symlink_to(root / "loop.hea")
    return {
        "rec.v2": "record name 'rec.v2' is not a WFDB record name",
        "fsnan": "header sampling frequency 'nan' is not a positive finite number",
        "fsneg": "header sampling frequency '-500' is not a positive finite number",
        "fsmilli": "sampling frequency 0.001 Hz is too low: need at least 100 Hz",
        "outside": "signal file outside.dat resolves to ",
        "x": "header file x.hea is a folder, not a file",
        "loop": "header file loop.hea is a broken or looping symbolic link",
    }


def test_every_bad_record_fails_alone_with_one_line_and_good_ones_are_imported(
    tmp_path,
):
    root = tmp_path / "data"
    expected = build_folder_of_bad_records(root)
    output = run_import(root, "--format", "folder", "--dataset", "mixed")

    assert f"imported 4, skipped 0, failed {len(expected)}" in output
    failed = {
        line.split(":", 1)[0].removeprefix("  failed mixed/"): line.split(": ", 1)[1]
        for line in output.splitlines()
        if line.startswith("  failed ")
    }
    assert set(failed) == set(expected)
    for record, reason in expected.items():
        assert failed[record].startswith(reason), (record, failed[record])
    assert "outside the dataset folder" in failed["outside"]
    assert "WFDB would read 250 Hz" in failed["fsnan"]

    stored = {r.source_id: r for r in EcgRecord.objects.filter(dataset="mixed")}
    assert set(stored) == {"good1", "good2", "rec", "infage"}
    # rec keeps its own signal: rec.v2 never overwrote or borrowed it.
    own = load_canonical(root / "rec")
    np.testing.assert_array_equal(record_signal(record=stored["rec"]), own)
    # An age that is no age is stored as unknown and reported, not guessed.
    assert stored["infage"].age is None
    assert "  warning mixed/infage: age 'inf' is not an age in years" in output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"record,labels,normal\nr1,Sinus rhythm,1\nr2\n",
            r"labels\.csv line 3: 1 fields, but the header has 3",
        ),
        (
            "record,labels\nr1,Vorhofflimmern\nr2,Kammerflattern \xe4\n".encode(
                "latin-1"
            ),
            r"labels\.csv line 3: not UTF-8",
        ),
        (None, r"labels\.csv is a folder, not a CSV file"),
    ],
    ids=["short-row", "not-utf8", "folder"],
)
def test_bad_labels_csv_is_one_clear_error_and_nothing_is_written(
    tmp_path, settings, content, message
):
    root = tmp_path / "data"
    for name in ("r1", "r2"):
        write_record(root, name, synthetic_ecg(500), 500)
    labels = tmp_path / "labels.csv"
    if content is None:
        labels.mkdir()
    else:
        labels.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        run_import(root, "--format", "folder", "--labels", labels)
    assert EcgRecord.objects.count() == 0
    assert files_under(settings.MEDIA_ROOT) == []


def test_bad_labels_csv_stops_the_import_service_before_any_write(tmp_path):
    write_record(tmp_path / "data", "r1", synthetic_ecg(500), 500)
    labels = tmp_path / "labels.csv"
    labels.write_text("record,rhythm\nr1,SR,extra\n")
    with pytest.raises(ValueError, match=r"labels\.csv line 2: 3 fields"):
        ecg_import(root=tmp_path / "data", fmt="folder", labels_csv=labels)
    assert EcgRecord.objects.count() == 0
