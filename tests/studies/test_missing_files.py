"""A case whose files went missing from storage: redrawn, or skipped and shown."""

import logging

import pytest
from django.contrib.auth.models import Group
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from ecgstudy.analysis.exports import study_report
from ecgstudy.studies.models import Assignment, Judgment, Participation
from ecgstudy.studies.selectors import participation_progress, study_progress
from tests.factories import UserFactory
from tests.studies.test_reader_pages import ANSWER, SVG, case_url, ordered


@pytest.fixture
def reading(client, launched_study):
    """A signed-in reader of the launched study: (client, participation)."""
    participation = launched_study.participations.order_by("pk").first()
    client.force_login(participation.reader.user)
    return client, participation


def continue_url(participation: Participation) -> str:
    return reverse("studies:continue", args=[participation.study_id])


def test_a_missing_sheet_is_redrawn_from_the_signal_stored_logged_and_served(
    reading, caplog
):
    client, participation = reading
    first = ordered(participation)[0]
    record = first.case.record
    with default_storage.open(record.sheet.name, "rb") as handle:
        original = handle.read()
    lost = record.sheet.name
    default_storage.delete(lost)

    with caplog.at_level(logging.WARNING, logger="ecgstudy.pool.services"):
        response = client.get(case_url(first))

    assert response.status_code == 200
    # The same renderer on the same stored signal: the very same sheet.
    assert SVG.search(response.content).group(0) == SVG.search(original).group(0)
    record.refresh_from_db()
    assert record.sheet.name != lost and default_storage.exists(record.sheet.name)
    with default_storage.open(record.sheet.name, "rb") as handle:
        assert handle.read() == original
    assert record.files_missing_since is None
    (warning,) = [r for r in caplog.records if r.name == "ecgstudy.pool.services"]
    assert warning.levelname == "WARNING"
    assert f"record {record.pk}" in warning.getMessage()
    assert "redrawn" in warning.getMessage()
    # The reader answers as usual and goes on.
    assert client.post(case_url(first), ANSWER).status_code == 302
    assert Judgment.objects.get().assignment == first


def test_a_case_without_sheet_or_signal_is_skipped_logged_and_the_researcher_sees_it(
    reading, launched_study, caplog
):
    client, participation = reading
    assignments = ordered(participation)
    first = assignments[0]
    record = first.case.record
    default_storage.delete(record.sheet.name)
    default_storage.delete(record.signal.name)
    # The case, and its repeat if it has one, are skipped; the reader goes on.
    lost = [a for a in assignments if a.case.record_id == record.pk]
    rest = [a for a in assignments if a.case.record_id != record.pk]

    with caplog.at_level(logging.WARNING, logger="ecgstudy.pool.services"):
        response = client.get(case_url(first))

    assert response.status_code == 302
    assert client.get(response.url).url == case_url(rest[0])
    record.refresh_from_db()
    assert record.files_missing_since is not None
    (error,) = [r for r in caplog.records if r.name == "ecgstudy.pool.services"]
    assert error.levelname == "ERROR" and f"record {record.pk}" in error.getMessage()
    # The skipped case is not answerable any more, and not stuck in front.
    assert client.post(case_url(first), ANSWER).status_code == 302
    assert not Judgment.objects.exists()
    for assignment in rest:
        assert client.get(case_url(assignment)).status_code == 200
        assert client.post(case_url(assignment), ANSWER).status_code == 302
    done = client.get(continue_url(participation), follow=True)
    assert "Thank you" in done.content.decode()

    # Progress counts the skipped case apart: this reader is finished.
    progress = participation_progress(participation=participation)
    assert (progress.answered, progress.skipped) == (len(rest), len(lost))
    assert progress.total == len(rest) and progress.finished
    listing = client.get(reverse("studies:list")).content.decode()
    assert "Finished" in listing
    # Every reader skips the case, whether or not they reached it yet.
    rows, overall = study_progress(study=launched_study)
    skipped = Assignment.objects.filter(
        participation__study=launched_study, case__record=record
    ).count()
    assert overall.skipped == skipped
    assert (
        overall.total
        == Assignment.objects.filter(participation__study=launched_study).count()
        - skipped
    )

    researcher = Client()
    user = UserFactory(username="researcher", is_staff=True)
    user.groups.add(Group.objects.get(name="Researchers"))
    researcher.force_login(user)
    page = researcher.get(
        reverse("admin:studies_study_progress", args=[launched_study.pk])
    ).content.decode()
    assert f"{len(lost)} skipped" in page and "ECG files missing" in page
    report = study_report(study=launched_study, n_boot=20)
    assert report["progress"]["skipped"] == skipped
    (mine,) = [r for r in report["progress"]["per_reader"] if r["reader"] == "R01"]
    assert (mine["answered"], mine["total"], mine["skipped"]) == (
        len(rest),
        len(rest),
        len(lost),
    )
    assert report["study"]["judgments"] == len([a for a in rest if not a.case.practice])
    html = researcher.get(
        reverse("admin:studies_study_report", args=[launched_study.pk])
    ).content.decode()
    assert "skipped" in html
