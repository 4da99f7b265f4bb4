"""Every answer traces to its ECG: export columns and the per-case table."""

import csv
import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse

from ecgstudy.analysis.exports import report_html, study_report
from ecgstudy.analysis.report import StudyInfo, StudyTable, case_report
from ecgstudy.analysis.selectors import EXPORT_COLUMNS
from ecgstudy.pool.models import EcgRecord, GenerationJob
from ecgstudy.studies.models import Assignment, StudyCase
from ecgstudy.studies.services import Answers, judgment_submit

TRACE_COLUMNS = [
    "record_id",
    "dataset",
    "source_id",
    "synthetic_source",
    "generation_job",
    "generation_index",
    "checkpoint_sha256",
    "generation_seed",
    "sampler",
    "steps",
]


def expected_trace(record: EcgRecord) -> dict[str, str]:
    """The traceability cells of a record as the CSV writes them."""
    job = record.generation_job
    if job is None:
        provenance = dict.fromkeys(TRACE_COLUMNS[4:], "")
    else:
        provenance = {
            "generation_job": str(job.pk),
            "generation_index": str(record.generation_index),
            "checkpoint_sha256": job.checkpoint_sha256,
            "generation_seed": str(record.generation_seed),
            "sampler": job.sampler,
            "steps": str(job.steps),
        }
    source = record.synthetic_source
    return {
        "record_id": str(record.pk),
        "dataset": record.dataset,
        "source_id": record.source_id,
        "synthetic_source": source.label if source is not None else "",
        **provenance,
    }


@pytest.fixture
def traced_study(launched_study):
    """Every assignment answered; the synthetic ECGs come from a job with a
    checkpoint, seed and sampler of its own, so no value is a factory default."""
    job = GenerationJob.objects.filter(records__study_cases__study=launched_study)
    job.update(checkpoint_sha256="5eed" * 16, sampler="ddpm", steps=77)
    for record in EcgRecord.objects.filter(study_cases__study=launched_study):
        if record.origin == "synthetic":
            record.generation_seed = 900000 + record.pk
            record.save(update_fields=["generation_seed"])
    for assignment in Assignment.objects.filter(participation__study=launched_study):
        judgment_submit(
            assignment=assignment,
            answers=Answers(origin="real", confidence=2, diagnosis=("SR",)),
        )
    return launched_study


def records_by_token(study) -> dict[str, EcgRecord]:
    cases = StudyCase.objects.filter(study=study).select_related(
        "record__generation_job", "record__synthetic_source"
    )
    return {case.token: case.record for case in cases}


def assert_traceable(text: str, study) -> None:
    rows = list(csv.DictReader(io.StringIO(text)))
    records = records_by_token(study)
    assert len(rows) == Assignment.objects.filter(participation__study=study).count()
    assert set(TRACE_COLUMNS) <= set(rows[0])
    origins = set()
    for row in rows:
        # A token may start with "-", which the spreadsheet guard quotes.
        record = records[row["case"].removeprefix("'")]
        origins.add(record.origin)
        assert row["origin"] == record.origin
        assert {key: row[key] for key in TRACE_COLUMNS} == expected_trace(record)
    assert origins == {"real", "synthetic"}


def test_the_csv_columns_name_the_traceability_fields_once():
    assert [c for c in EXPORT_COLUMNS if c in TRACE_COLUMNS] == TRACE_COLUMNS


def test_the_admin_csv_traces_every_judgment_to_its_record(
    researcher_client, traced_study
):
    url = reverse("admin:studies_study_report_file", args=[traced_study.pk, "csv"])
    response = researcher_client.get(url)
    assert response.status_code == 200
    assert_traceable(response.content.decode(), traced_study)


def test_the_study_report_command_csv_traces_every_judgment(traced_study, tmp_path):
    out = tmp_path / "judgments.csv"
    call_command("study_report", str(traced_study.pk), format="csv", out=out)
    assert_traceable(out.read_text(encoding="utf-8"), traced_study)


def test_the_json_report_traces_every_case(traced_study, tmp_path):
    out = tmp_path / "report.json"
    call_command(
        "study_report", str(traced_study.pk), format="json", out=out, bootstrap=10
    )
    cases = json.loads(out.read_text(encoding="utf-8"))["cases"]
    records = records_by_token(traced_study)
    counted = StudyCase.objects.filter(study=traced_study, practice=False)
    assert {row["case"] for row in cases} == set(counted.values_list("token", flat=1))
    for row in cases:
        record = records[row["case"]]
        job = record.generation_job
        assert row["record_id"] == record.pk
        assert row["dataset"] == record.dataset
        assert row["source_id"] == record.source_id
        assert row["origin"] == record.origin
        assert row["generation_job"] == (job.pk if job else None)
        assert row["checkpoint_sha256"] == (job.checkpoint_sha256 if job else None)
        assert row["generation_seed"] == record.generation_seed
        assert row["sampler"] == (job.sampler if job else None)
        assert row["steps"] == (job.steps if job else None)
        source = record.synthetic_source
        assert row["synthetic_source"] == (source.label if source else None)
        assert row["arm"] == record.origin  # the case mix names no source


def test_formula_text_in_the_traceability_columns_stays_text(
    researcher_client, traced_study
):
    records = EcgRecord.objects.filter(study_cases__study=traced_study)
    for record in records:
        record.dataset = "=cmd|' /C calc'!A0"
        record.source_id = f"@SUM({record.pk})"
        record.save(update_fields=["dataset", "source_id"])
    GenerationJob.objects.filter(records__in=records).update(
        checkpoint_sha256="+" + "1" * 63, sampler="-ddim"
    )
    url = reverse("admin:studies_study_report_file", args=[traced_study.pk, "csv"])
    rows = list(csv.DictReader(io.StringIO(researcher_client.get(url).text)))
    assert rows
    for row in rows:
        assert row["dataset"] == "'=cmd|' /C calc'!A0"
        assert row["source_id"].startswith("'@SUM(")
        if row["origin"] == "synthetic":
            assert row["checkpoint_sha256"] == "'+" + "1" * 63
            assert row["sampler"] == "'-ddim"
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


# The per-case table on a hand-built study with known answers.

READERS = ["R01", "R02", "R03"]
# case: (synthetic, rhythm, first-round answers of R01-R03 as (origin, confidence,
# diagnosis, comment))
CASES = {
    "syn_af": (
        True,
        "AF",
        [
            ("synthetic", 2, "AF", ""),
            ("real", 4, "AF", "P waves look odd"),
            ("real", 3, "other", ""),
        ],
    ),
    "syn_sr": (
        True,
        "SR",
        [
            ("synthetic", 5, "SR", ""),
            ("synthetic", 5, "SR", ""),
            ("synthetic", 4, "SR", ""),
        ],
    ),
    "real_sr": (
        False,
        "SR",
        [("real", 3, "SR", ""), ("real", 1, "SR", ""), ("synthetic", 2, "AF", "noisy")],
    ),
    "real_af": (
        False,
        "AF",
        [("real", 5, "AF", ""), ("real", 5, "AF", ""), ("real", 5, "AF", "")],
    ),
}


def hand_built() -> tuple[StudyTable, StudyInfo]:
    rows = []
    for case, (synthetic, rhythm, answers) in CASES.items():
        for reader, (origin, confidence, diagnosis, comment) in zip(
            READERS, answers, strict=True
        ):
            rows.append(
                (
                    reader,
                    case,
                    1,
                    synthetic,
                    rhythm,
                    origin,
                    confidence,
                    diagnosis,
                    comment,
                )
            )
    # R01 sees syn_af again and now calls it synthetic: a repeat, not counted.
    rows.append(("R01", "syn_af", 2, True, "AF", "synthetic", 5, "AF", "seen before?"))
    columns = list(zip(*rows, strict=True))
    n = len(rows)
    table = StudyTable(
        reader=np.array(columns[0]),
        site=np.full(n, "A"),
        experience=np.full(n, "resident"),
        case=np.array(columns[1]),
        round=np.array(columns[2]),
        synthetic=np.array(columns[3]),
        rhythm=np.array(columns[4]),
        answer=np.array(columns[5]),
        confidence=np.array(columns[6], dtype=float),
        diagnosis=np.array(columns[7]),
        quality=np.full(n, "good"),
        seconds=np.full(n, 10.0),
        comment=np.array(columns[8]),
    )
    info = StudyInfo(
        name="hand-built",
        status="Closed",
        ask_origin=True,
        ask_confidence=True,
        confidence_levels=5,
        ask_diagnosis=True,
        diagnosis_options=[["SR", "Sinus"], ["AF", "AF"], ["other", "Other"]],
        ask_quality=True,
        n_real=2,
        n_synthetic=2,
        cases={"syn_af": {"record_id": 41, "labels": "AFIB", "dataset": "synthetic"}},
    )
    return table, info


def test_the_per_case_table_gives_known_detection_rates_fooled_first():
    rows = case_report(*hand_built())
    assert [row["case"] for row in rows] == ["syn_af", "syn_sr", "real_sr", "real_af"]
    by_case = {row["case"]: row for row in rows}
    assert by_case["syn_af"]["detection_rate"] == pytest.approx(1 / 3)
    assert by_case["syn_sr"]["detection_rate"] == 1.0
    assert by_case["real_sr"]["detection_rate"] == pytest.approx(1 / 3)
    assert by_case["real_af"]["detection_rate"] == 0.0
    syn_af = by_case["syn_af"]
    assert syn_af["readers"] == 3 and syn_af["called_synthetic"] == 1
    assert syn_af["mean_confidence"] == pytest.approx(3.0)  # the repeat's 5 not counted
    assert syn_af["diagnosis_agreement"] == pytest.approx(2 / 3)
    assert by_case["real_sr"]["diagnosis_agreement"] == pytest.approx(2 / 3)
    assert syn_af["record_id"] == 41 and syn_af["labels"] == "AFIB"
    assert syn_af["comments"] == [
        {"reader": "R02", "round": 1, "text": "P waves look odd"},
        {"reader": "R01", "round": 2, "text": "seen before?"},
    ]
    assert by_case["real_af"]["comments"] == []


def test_the_per_case_table_is_in_the_report_html():
    table, info = hand_built()
    from ecgstudy.analysis.report import build_report

    report = build_report(table, info, n_boot=10)
    html = report_html(report=report, standalone=False)
    assert 'id="cases"' in html and "case-table" in html and "sortable" in html
    body = html[html.index('id="cases"') :]
    # Sorted fooled-first, rates shown, comments with their reader.
    assert body.index("syn_af") < body.index("syn_sr") < body.index("real_sr")
    assert "33.3%" in body and "1/3" in body and "R02: P waves look odd" in body
    assert "R01 (repeat): seen before?" in body


def test_the_study_report_counts_per_case_from_the_database(launched_study):
    """R01 answers right, R02 calls everything synthetic: synthetic cases are
    detected by both (100%), real ones by R02 alone (50%)."""
    first, second = launched_study.participations.order_by("pk")
    for assignment in Assignment.objects.filter(
        participation__study=launched_study
    ).select_related("case__record"):
        truth = assignment.case.record.origin
        origin = truth if assignment.participation == first else "synthetic"
        judgment_submit(
            assignment=assignment,
            answers=Answers(origin=origin, confidence=3, diagnosis=("AF",)),
        )
    report = study_report(study=launched_study, n_boot=10)
    rows = report["cases"]
    assert (
        len(rows)
        == StudyCase.objects.filter(study=launched_study, practice=False).count()
    )
    for row in rows:
        assert row["readers"] == 2
        expected = 1.0 if row["origin"] == "synthetic" else 0.5
        assert row["detection_rate"] == expected, row
        assert row["diagnosis_agreement"] == (1.0 if row["rhythm"] == "AF" else 0.0)
    assert [row["origin"] for row in rows] == sorted(
        (row["origin"] for row in rows), key=lambda origin: origin != "synthetic"
    )
