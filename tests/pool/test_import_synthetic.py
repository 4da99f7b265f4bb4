"""`manage.py import_synthetic`: other generators' ECGs filed as synthetic with their
source, in the canonical form, with clear errors and nothing half-written."""

import csv
import importlib
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError

from ecgstudy.pool.models import EcgRecord, Origin, Rhythm, SyntheticSource
from ecgstudy.pool.selectors import record_sheet_svg, record_signal
from ecgstudy.pool.services import (
    SyntheticImportError,
    synthetic_import,
    synthetic_source_for_job,
)
from generator.datasets import PTBXL_RHYTHM
from generator.ecg import LEADS, canonicalize
from tests.factories import GenerationJobFactory, SyntheticRecordFactory
from tests.generator.test_canonical_form import write_record
from tests.signals import synthetic_ecg

pytestmark = pytest.mark.django_db

SSSD_DIR = Path("/work/shared/anchors/sssd-ecg")
SSSD_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6", "III", "aVR", "aVL", "aVF")


def run_import(*args) -> str:
    out = StringIO()
    call_command("import_synthetic", *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


def ecgs(n: int, fs: float = 500, seconds: float = 10.0, leads=LEADS) -> np.ndarray:
    """(n, 12, L) sine-like beats, leads stored in ``leads`` order."""
    canonical = np.stack(
        [synthetic_ecg(fs, seconds, heart_rate=55 + 9 * i, seed=i) for i in range(n)]
    )
    return canonical[:, [LEADS.index(lead) for lead in leads]]


def write_labels(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["record", "labels", "rhythm"])
        writer.writeheader()
        for row in rows:
            writer.writerow({"labels": "", "rhythm": ""} | row)
    return path


def labels_for(n: int, tmp_path: Path) -> Path:
    rhythms = ["AF", "SR", "SB"]
    return write_labels(
        tmp_path / "labels.csv",
        [
            {"record": i, "labels": f"{rhythms[i % 3]};NORM", "rhythm": rhythms[i % 3]}
            for i in range(n)
        ],
    )


def files_under(root: Path) -> list[Path]:
    return [p for p in Path(root).rglob("*") if p.is_file()] if root.exists() else []


def assert_nothing_written(media: Path) -> None:
    assert not EcgRecord.objects.exists()
    assert not SyntheticSource.objects.exists()
    assert files_under(media) == []


def test_npz_with_labels_csv_is_filed_as_synthetic_with_its_source(tmp_path, settings):
    signals = ecgs(3, fs=500, leads=SSSD_LEADS)
    array = tmp_path / "set.npz"
    np.savez(array, signals=signals)
    out = run_import(
        array,
        "--name=OtherGAN",
        "--version=v2",
        "--citation=Doe et al. 2024",
        "--fs=500",
        f"--lead-order={','.join(SSSD_LEADS)}",
        f"--labels={labels_for(3, tmp_path)}",
    )
    assert "imported 3 synthetic ECGs as OtherGAN v2" in out
    source = SyntheticSource.objects.get()
    assert (source.name, source.version, source.citation, source.kind) == (
        "OtherGAN",
        "v2",
        "Doe et al. 2024",
        SyntheticSource.Kind.IMPORTED,
    )
    records = list(EcgRecord.objects.order_by("source_id"))
    assert [r.rhythm for r in records] == [Rhythm.AF, Rhythm.SR, Rhythm.SB]
    for index, record in enumerate(records):
        assert record.origin == Origin.SYNTHETIC
        assert record.synthetic_source == source
        assert record.generation_job is None
        # The dataset of every synthetic record, generated or imported: no source.
        assert record.dataset == "synthetic"
        assert (record.fs, record.n_samples) == (100, 1000)
        assert record.labels[0] == ["AF", "SR", "SB"][index]
        # The same canonical form as any record: leads by name, then canonicalize.
        in_canonical_order = signals[index][[SSSD_LEADS.index(x) for x in LEADS]]
        np.testing.assert_allclose(
            record_signal(record=record), canonicalize(in_canonical_order, 500), 1e-6
        )
        assert record_sheet_svg(record=record).startswith(b"<svg")


def test_npy_in_canonical_order_is_imported_and_a_second_run_adds_nothing(
    tmp_path,
):
    array = tmp_path / "set.npy"
    np.save(array, ecgs(2, fs=100))
    labels = write_labels(
        tmp_path / "labels.csv",
        [{"record": 0, "rhythm": "AF"}, {"record": 1, "labels": "sinus rhythm"}],
    )
    args = (array, "--name=Other", "--fs=100", f"--labels={labels}")
    assert "imported 2 " in run_import(*args)
    by_rhythm = {r.rhythm: r.labels for r in EcgRecord.objects.all()}
    assert by_rhythm == {"AF": ["AF"], "SR": ["sinus rhythm"]}
    again = run_import(*args)
    assert "imported 0 " in again and "skipped 2: already in the pool" in again
    assert EcgRecord.objects.count() == 2


def test_wfdb_folder_is_imported_and_a_bad_record_fails_alone(tmp_path):
    folder = tmp_path / "wfdb"
    for i, name in enumerate(("gen_a", "gen_b")):
        write_record(folder, name, synthetic_ecg(500, seed=i, heart_rate=60 + i), 500)
    # Its own `# Dx:` code (SNOMED AF) labels a record without a CSV row.
    write_record(
        folder,
        "gen_c",
        synthetic_ecg(250, seed=3, heart_rate=90),
        250,
        comments=["Dx: 164889003"],
    )
    limb_only = ("I", "II", "III", "aVR", "aVL", "aVF")
    write_record(folder, "gen_bad", synthetic_ecg(500)[:6], 500, leads=limb_only)
    labels = write_labels(
        tmp_path / "labels.csv",
        [
            {"record": "gen_a", "rhythm": "SR"},
            {"record": "gen_b", "labels": "atrial fibrillation"},
            {"record": "gen_bad", "rhythm": "SR"},
        ],
    )
    out = run_import(folder, "--name=WaveGAN*", f"--labels={labels}")
    assert "imported 3 synthetic ECGs as WaveGAN*, skipped 0, failed 1" in out
    assert "failed gen_bad: missing leads V1, V2, V3, V4, V5, V6" in out
    records = {r.source_id.split("-", 1)[1]: r for r in EcgRecord.objects.all()}
    assert {name: r.rhythm for name, r in records.items()} == {
        "gen_a": "SR",
        "gen_b": "AF",
        "gen_c": "AF",
    }
    assert {r.fs for r in records.values()} == {100}
    assert {r.origin for r in records.values()} == {Origin.SYNTHETIC}
    assert {r.dataset for r in records.values()} == {"synthetic"}


@pytest.mark.parametrize(
    ("shape", "options", "message"),
    [
        ((2, 8, 5000), ["--fs=500"], r"ECGs have 8 leads .*need 12"),
        ((2, 12, 500), ["--fs=50"], r"50 Hz is below the pool's rate of 100 Hz"),
        ((2, 12, 5000), ["--fs=0"], r"sampling rate must be positive"),
        ((2, 12, 5000), ["--fs=-500"], r"sampling rate must be positive"),
        ((2, 12, 5000), [], r"needs its sampling rate \(--fs"),
        ((2, 12, 2500), ["--fs=500"], r"5\.00 s long .*need at least 10 s"),
        (
            (2, 12, 5000),
            ["--fs=500", "--lead-order=I,II,V1,V2"],
            r"lead order I,II,V1,V2: it must name the 12 standard leads",
        ),
    ],
)
def test_a_wrong_array_is_a_clear_error_and_nothing_is_written(
    tmp_path, settings, shape, options, message
):
    array = tmp_path / "set.npy"
    np.save(array, np.ones(shape, dtype=np.float32))
    labels = labels_for(shape[0], tmp_path)
    with pytest.raises(CommandError, match=message):
        run_import(array, "--name=Other", f"--labels={labels}", *options)
    assert_nothing_written(settings.MEDIA_ROOT)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (None, r"missing labels for 3 of 3 ECGs \(0, 1, 2\); no labels CSV"),
        (
            [{"record": 0, "rhythm": "SR"}, {"record": 1, "rhythm": "SR"}],
            r"missing labels for 1 of 3 ECGs \(2\)",
        ),
        (
            [{"record": i, "rhythm": "SR"} for i in range(3)] + [{"record": 7}],
            r"rows name ECGs that .* does not hold: 7 .*0-based indices",
        ),
        (
            [{"record": i, "rhythm": "SR"} for i in range(2)] + [{"record": 2}],
            r"missing labels for 1 of 3 ECGs \(2\)",
        ),
        (
            [{"record": i, "rhythm": "VT"} for i in range(3)],
            r"line 2: unknown rhythm 'VT'; allowed: AF, AFL, SR",
        ),
    ],
)
def test_missing_or_mismatched_labels_are_clear_errors_and_nothing_is_written(
    tmp_path, settings, rows, message
):
    array = tmp_path / "set.npz"
    np.savez(array, signals=ecgs(3, fs=100))
    labels = (
        [] if rows is None else [f"--labels={write_labels(tmp_path / 'l.csv', rows)}"]
    )
    with pytest.raises(CommandError, match=message):
        run_import(array, "--name=Other", "--fs=100", *labels)
    assert_nothing_written(settings.MEDIA_ROOT)


def test_wfdb_folder_without_labels_and_options_for_arrays_are_clear_errors(
    tmp_path, settings
):
    folder = tmp_path / "wfdb"
    write_record(folder, "gen_a", synthetic_ecg(500), 500)
    with pytest.raises(CommandError, match=r"missing labels for 1 of 1 ECGs \(gen_a\)"):
        run_import(folder, "--name=Other")
    with pytest.raises(CommandError, match="--fs and --lead-order are for array"):
        run_import(folder, "--name=Other", "--fs=500")
    with pytest.raises(CommandError, match="neither a folder of WFDB records nor"):
        run_import(tmp_path / "nothing.csv", "--name=Other")
    assert_nothing_written(settings.MEDIA_ROOT)


def test_a_source_name_and_version_cannot_change_citation_or_hide_a_checkpoint(
    tmp_path,
):
    array = tmp_path / "set.npy"
    np.save(array, ecgs(1, fs=100))
    labels_csv = labels_for(1, tmp_path)
    labels = f"--labels={labels_csv}"
    run_import(array, "--name=Other", "--version=1", "--citation=A", "--fs=100", labels)
    with pytest.raises(CommandError, match="exists with another citation"):
        run_import(
            array, "--name=Other", "--version=1", "--citation=B", "--fs=100", labels
        )
    with pytest.raises(CommandError, match="not 64 hexadecimal digits"):
        run_import(array, "--name=New", "--checkpoint-sha256=abc", "--fs=100", labels)
    job = GenerationJobFactory()
    ours = synthetic_source_for_job(job=job)
    with pytest.raises(SyntheticImportError, match="one of this product's checkpoints"):
        synthetic_import(
            path=array,
            name=ours.name,
            version=ours.version,
            fs=100,
            labels_csv=labels_csv,
        )


def test_generated_records_get_the_source_of_their_checkpoint(demo_checkpoint):
    from ecgstudy.pool.services import (
        generation_job_create,
        generation_job_run,
        parse_label_counts,
    )

    jobs = [
        generation_job_run(
            job=generation_job_create(
                checkpoint=demo_checkpoint,
                plan=parse_label_counts("AF=1"),
                steps=2,
                seed=seed,
                chunk_size=1,
            )
        )
        for seed in (1, 2)
    ]
    source = SyntheticSource.objects.get()  # one checkpoint, one source
    assert source.kind == SyntheticSource.Kind.CHECKPOINT
    assert source.name == "demo-checkpoint"
    assert source.checkpoint_sha256 == jobs[0].checkpoint_sha256
    assert source.label == f"demo-checkpoint @{jobs[0].checkpoint_sha256[:8]}"
    assert set(EcgRecord.objects.values_list("synthetic_source", flat=True)) == {
        source.pk
    }


def test_the_migration_gives_existing_generated_records_their_checkpoint_source():
    migration = importlib.import_module(
        "ecgstudy.pool.migrations.0006_synthetic_sources"
    )
    job = GenerationJobFactory(checkpoint_path="/ckpt/run-7/last.pt")
    other = GenerationJobFactory(checkpoint_sha256="cd" * 32)
    records = SyntheticRecordFactory.create_batch(2, generation_job=job)
    records.append(SyntheticRecordFactory(generation_job=other))
    EcgRecord.objects.update(synthetic_source=None)
    SyntheticSource.objects.all().delete()
    migration.fill_sources_of_generated_records(apps, None)
    sources = {r.generation_job_id: r.synthetic_source for r in EcgRecord.objects.all()}
    assert (sources[job.pk].name, sources[job.pk].version) == ("last", "ab" * 6)
    assert sources[other.pk].checkpoint_sha256 == "cd" * 32
    assert SyntheticSource.objects.count() == 2


def sssd_labels(tmp_path: Path) -> Path:
    """A labels CSV for samples_synthetic_22.npy from the paper's
    metadata_results.csv: trial i's synthetic row labels array index i - 1."""
    with (SSSD_DIR / "metadata_results.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["y_true_synthetic"] == "True"]
    return write_labels(
        tmp_path / "sssd-labels.csv",
        [
            {
                "record": int(row["trials"]) - 1,
                "labels": ";".join(s.strip() for s in row["lbls"].split(",")),
                "rhythm": next(
                    (
                        PTBXL_RHYTHM[code]
                        for code in row["lbl_codes"].split("_")
                        if code in PTBXL_RHYTHM
                    ),
                    "other",
                ),
            }
            for row in rows
        ],
    )


@pytest.mark.skipif(
    not (SSSD_DIR / "samples_synthetic_22.npy").is_file(),
    reason=f"SSSD-ECG's published samples not found at {SSSD_DIR}",
)
def test_sssd_ecg_published_samples_import_in_their_lead_order(tmp_path):
    array = SSSD_DIR / "samples_synthetic_22.npy"
    out = run_import(
        array,
        "--name=SSSD-ECG",
        "--version=2023",
        "--citation=Alcaraz & Strodthoff, Comput Biol Med 163:107115 (2023)",
        "--fs=100",
        f"--lead-order={','.join(SSSD_LEADS)}",
        f"--labels={sssd_labels(tmp_path)}",
    )
    assert "imported 22 synthetic ECGs as SSSD-ECG 2023, skipped 0, failed 0" in out
    raw = np.load(array)
    first = EcgRecord.objects.get(source_id__endswith="-0")
    assert first.rhythm == "SR" and first.labels == ["normal", "sinus rhythm"]
    in_canonical_order = raw[0][[SSSD_LEADS.index(x) for x in LEADS]]
    np.testing.assert_allclose(
        record_signal(record=first), canonicalize(in_canonical_order, 100), atol=1e-6
    )
    assert EcgRecord.objects.get(source_id__endswith="-21").rhythm == "AF"


def test_the_admin_imports_an_uploaded_array_and_names_what_is_wrong(
    researcher_client, tmp_path
):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    array = tmp_path / "set.npz"
    np.savez(array, signals=ecgs(2, fs=100))
    labels = labels_for(2, tmp_path).read_bytes()
    url = reverse("admin:pool_syntheticsource_add")
    assert "Import a synthetic set" in researcher_client.get(url).content.decode()

    def post(fs: str):
        return researcher_client.post(
            url,
            {
                "signals": SimpleUploadedFile("gan-set.npz", array.read_bytes()),
                "labels": SimpleUploadedFile("gan-labels.csv", labels),
                "fs": fs,
                "lead_order": ",".join(LEADS),
                "name": "UploadGAN",
                "version": "1",
            },
        )

    refused = post("50").content.decode()
    assert "50 Hz is below the pool&#x27;s rate of 100 Hz" in refused
    assert not SyntheticSource.objects.exists()
    response = post("100")
    assert response.status_code == 302
    source = SyntheticSource.objects.get()
    assert source.records.count() == 2
    listing = researcher_client.get(reverse("admin:pool_syntheticsource_changelist"))
    assert "UploadGAN 1" in listing.content.decode()
