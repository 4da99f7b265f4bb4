"""The researchers' traceability values never reach a reader's browser.

A study whose records carry distinctive ids, source ids, dataset names, seeds, a
generation job number and a checkpoint hash is read from start to end (practice
case included); every page, redirect, header and same-site link a reader's
browser receives is searched for those values.
"""

import re
from urllib.parse import urljoin, urlparse

import pytest
from django.urls import reverse

from ecgstudy.pool.models import EcgRecord, GenerationJob, Rhythm
from ecgstudy.studies.models import Assignment, Judgment
from ecgstudy.studies.services import Answers, judgment_submit, study_launch
from tests.factories import EcgRecordFactory, SyntheticRecordFactory
from tests.study_fixtures import PER_GROUP, make_study

JOB_ID = 918273
RECORD_IDS = 770001  # the first record's id; the others follow
CHECKPOINT = "c0ffee5eed" * 6 + "abcd"
DATASET = "tracedataset"
LINK = re.compile(r'(?:href|src|action|data-[a-z-]*url)="([^"#]+)"')
ANSWER = {
    "origin": "synthetic",
    "confidence": "3",
    "diagnosis": "AF",
    "quality": "good",
    "comment": "",
}


@pytest.fixture
def traced_pool(db):
    job = GenerationJob.objects.create(
        pk=JOB_ID,
        checkpoint_path="/checkpoints/trace-model.pt",
        checkpoint_sha256=CHECKPOINT,
        plan=[[["AF"], 10], [["SR"], 10]],
        sampler="ddim",
        steps=50,
        guidance=1.0,
        seed=55555501,
        chunk_size=8,
        total=20,
        status=GenerationJob.Status.DONE,
    )
    number = RECORD_IDS
    for rhythm in (Rhythm.AF, Rhythm.SR):
        for _ in range(PER_GROUP):
            EcgRecordFactory(
                pk=number, dataset=DATASET, source_id=f"src-trace-{number}"
            )
            SyntheticRecordFactory(
                pk=number + 100,
                rhythm=rhythm,
                generation_job=job,
                generation_index=number - RECORD_IDS,
                source_id=f"job-trace-{number}",
                generation_seed=31415926 + number,
            )
            number += 1
    EcgRecord.objects.filter(origin="real", pk__lt=RECORD_IDS + PER_GROUP).update(
        rhythm=Rhythm.AF
    )


def traceability_values(study) -> set[str]:
    values = {CHECKPOINT, CHECKPOINT[:12], str(JOB_ID), DATASET}
    for record in EcgRecord.objects.filter(study_cases__study=study):
        values |= {str(record.pk), record.source_id}
        if record.generation_seed is not None:
            values |= {str(record.generation_seed), str(record.generation_index)}
    # Small indexes (0, 1, ...) are digits of every page; ids are all six or more.
    return {value for value in values if len(value) >= 6}


def assert_clean(response, url: str, values: set[str]) -> None:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    body = response.content.decode("utf-8", "replace")
    for value in values:
        for where, text in (("page", body), ("headers", headers), ("url", url)):
            assert value not in text, f"{value!r} leaks into the {where} of {url}"


def same_site_links(body: str, base: str) -> list[str]:
    links = []
    for link in LINK.findall(body):
        parsed = urlparse(urljoin(base, link))
        if parsed.scheme not in {"", "http"} or parsed.netloc not in {"", "testserver"}:
            continue
        if parsed.path.startswith(("/static/", "/admin/", "/accounts/logout")):
            continue
        links.append(parsed.path + (f"?{parsed.query}" if parsed.query else ""))
    return links


def test_a_reader_never_receives_a_traceability_value(client, traced_pool):
    study = study_launch(study=make_study(readers=1, practice_cases=1))
    values = traceability_values(study)
    assert len(values) > 20  # ids, source ids, seeds, the job, the checkpoint
    participation = study.participations.get()
    client.force_login(participation.reader.user)
    seen: set[str] = set()
    posted = 0

    def visit(url: str) -> None:
        """GET a page and the same-site pages and files it points to."""
        if url in seen:
            return
        seen.add(url)
        response = client.get(url, follow=True)
        for hop, _ in response.redirect_chain:
            assert_clean(response, hop, values)
        assert_clean(response, url, values)
        if response.status_code == 200 and "html" in response["Content-Type"]:
            for link in same_site_links(response.content.decode(), url):
                if not link.startswith("/case/"):  # cases are read in order below
                    visit(link)

    visit(reverse("studies:list"))
    visit(reverse("studies:intro", args=[study.pk]))
    for assignment in participation.assignments.order_by("position"):
        url = reverse("studies:case", args=[assignment.token])
        page = client.get(url)
        assert page.status_code == 200
        assert b"<svg" in page.content  # the sheet is in the page searched
        assert_clean(page, url, values)
        for link in same_site_links(page.content.decode(), url):
            if link != url:
                visit(link)
        answered = client.post(url, ANSWER, follow=True)
        for hop, _ in answered.redirect_chain:
            assert_clean(answered, hop, values)
        assert_clean(answered, url, values)
        posted += Judgment.objects.filter(assignment=assignment).exists()
        if not Judgment.objects.filter(assignment=assignment).exists():
            # The form may ask for more than ANSWER gives: answer through the
            # service so the walk still reaches every case and the end.
            judgment_submit(
                assignment=assignment,
                answers=Answers(origin="synthetic", confidence=3, diagnosis=("AF",)),
            )
    assert posted  # the pages after a submit were searched too
    seen.discard(reverse("studies:list"))
    visit(reverse("studies:list"))
    visit(reverse("studies:done", args=[study.pk]))
    assert Judgment.objects.filter(assignment__participation=participation).count() == (
        Assignment.objects.filter(participation=participation).count()
    )


def test_a_reader_cannot_open_the_researchers_case_list_or_exports(client, traced_pool):
    study = study_launch(study=make_study(readers=1))
    client.force_login(study.participations.get().reader.user)
    values = traceability_values(study)
    for url in (
        reverse("admin:studies_studycase_changelist") + f"?study__id__exact={study.pk}",
        reverse("admin:studies_study_report_file", args=[study.pk, "csv"]),
        reverse("admin:studies_study_report_file", args=[study.pk, "json"]),
        reverse("admin:studies_study_report", args=[study.pk]),
        reverse("admin:pool_ecgrecord_changelist"),
    ):
        response = client.get(url)
        assert response.status_code == 302, url  # to the admin's sign-in
        assert "/admin/login/" in response["Location"]
        assert_clean(response, url, values)
