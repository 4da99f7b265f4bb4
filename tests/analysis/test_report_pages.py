"""The report of a launched study in the admin, its exports and study_report."""

import csv
import io
import json
import re

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from ecgstudy.studies.models import Assignment
from ecgstudy.studies.services import Answers, judgment_submit
from tests.factories import UserFactory


@pytest.fixture
def answered_study(launched_study):
    """Every reader has answered every case: synthetic called synthetic, AF as AF."""
    for assignment in Assignment.objects.filter(
        participation__study=launched_study
    ).select_related("case__record"):
        record = assignment.case.record
        judgment_submit(
            assignment=assignment,
            answers=Answers(
                origin="synthetic" if record.origin == "synthetic" else "real",
                confidence=5,
                diagnosis=(record.rhythm,),
                quality="good",
                comment="looks fine, 'quoted', with a comma",
            ),
        )
    return launched_study


def test_the_report_of_a_launched_study_renders_in_the_admin(
    researcher_client, answered_study
):
    url = reverse("admin:studies_study_report", args=[answered_study.pk])
    response = researcher_client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    for heading in (
        "Real or synthetic: pooled over readers",
        "Accuracy per reader",
        "Agreement on the real-or-synthetic answer",
        "Diagnosis: read as its label",
        "Signal quality by origin",
        "Time per case by origin",
    ):
        assert heading in page
    assert "100.0%" in page  # every answer was right
    assert "plotly-graph-div" in page
    # plotly.js comes from a static file browsers keep, not from the page's view.
    plotly = researcher_client.get(reverse("admin:studies_study_plotly"))
    assert plotly.status_code == 302
    assert plotly["Location"].endswith(settings.PLOTLY_JS_STATIC)


def test_the_csv_export_has_every_judgment_with_pseudonyms_only(
    researcher_client, answered_study
):
    url = reverse("admin:studies_study_report_file", args=[answered_study.pk, "csv"])
    response = researcher_client.get(url)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 2 * 15
    assert {row["reader"] for row in rows} == {"R01", "R02"}
    usernames = [p.reader.user.username for p in answered_study.participations.all()]
    assert not any(name in response.content.decode() for name in usernames)
    assert rows[0]["comment"] == "looks fine, 'quoted', with a comma"
    assert {row["round"] for row in rows} == {"1", "2"}
    assert all(float(row["seconds"]) >= 0 for row in rows if row["seconds"])


def test_the_json_and_html_exports(researcher_client, answered_study):
    base = "admin:studies_study_report_file"
    data = json.loads(
        researcher_client.get(reverse(base, args=[answered_study.pk, "json"])).content
    )
    assert data["detection"]["pooled"]["accuracy"] == 1.0
    assert data["study"]["judgments"] == 2 * (12 + 3)  # with repeats
    html = researcher_client.get(
        reverse(base, args=[answered_study.pk, "html"])
    ).content
    text = html.decode()
    # One self-contained file: plotly inlined, nothing fetched from elsewhere.
    assert "Plotly" in text and len(html) > 3_000_000
    assert not re.search(r"<(script|link|img)\b[^>]*\b(src|href)=", text)
    assert (
        researcher_client.get(
            reverse(base, args=[answered_study.pk, "pdf"])
        ).status_code
        == 404
    )


def test_study_report_command_writes_each_format(answered_study, tmp_path):
    for fmt in ("json", "csv", "html"):
        out = tmp_path / f"report.{fmt}"
        call_command(
            "study_report", str(answered_study.pk), format=fmt, out=out, bootstrap=50
        )
        assert out.stat().st_size > 100
    assert json.loads((tmp_path / "report.json").read_text())["study"]["readers"] == 2
    by_name = tmp_path / "by-name.json"
    call_command("study_report", answered_study.name, format="json", out=by_name)
    assert by_name.is_file()
    assert not list(tmp_path.glob("*.part"))


def test_study_report_names_a_study_that_does_not_exist(answered_study, tmp_path):
    with pytest.raises(CommandError, match="no study 'nope'; studies are: "):
        call_command("study_report", "nope", out=tmp_path / "x.html")
    with pytest.raises(CommandError, match="does not exist"):
        call_command(
            "study_report", str(answered_study.pk), out=tmp_path / "no" / "x.html"
        )
    assert not (tmp_path / "x.html").exists()


def test_readers_and_plain_staff_cannot_read_the_report(client, answered_study):
    urls = [
        reverse("admin:studies_study_report", args=[answered_study.pk]),
        reverse("admin:studies_study_report_file", args=[answered_study.pk, "csv"]),
    ]
    client.force_login(answered_study.participations.first().reader.user)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response.url
    client.force_login(UserFactory(username="clerk", is_staff=True))
    for url in urls:
        assert client.get(url).status_code == 403
