"""Without a broker, the admin's generation jobs run in a background thread."""

import re
import shutil
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ecgstudy.pool import background
from ecgstudy.pool.models import EcgRecord, GenerationJob
from ecgstudy.pool.services import generation_job_create, generation_job_start

pytestmark = pytest.mark.django_db(transaction=True)

PROGRESS = re.compile(r'<progress value="(\d+)" max="(\d+)">')


@pytest.fixture(autouse=True)
def thread_runner(settings):
    """No broker: jobs go to this process's runner, which must be idle before the
    test's tables are emptied."""
    settings.GENERATION_RUNNER = "thread"
    yield background.runner
    assert background.runner.wait_idle(timeout=300), "a background job never ended"


def generate_form(checkpoint, per_label: str, **fields) -> dict:
    return {
        "checkpoint": str(checkpoint),
        "per_label": per_label,
        "sampler": "ddim",
        "steps": 40,
        "guidance": 1.0,
        "seed": 3,
        "chunk_size": 1,
        **fields,
    }


def test_generate_returns_at_once_and_the_job_finishes_in_the_background(
    admin_client, demo_checkpoint, thread_runner
):
    from generator.api import checkpoint_labels

    # A server process pays once for importing torch and reading the checkpoint
    # the form is checked against; that is not the generation being timed.
    checkpoint_labels(demo_checkpoint)
    started = time.monotonic()
    response = admin_client.post(
        reverse("admin:pool_generationjob_add"),
        generate_form(demo_checkpoint, "AF=6,SR=6"),
    )
    answered_in = time.monotonic() - started
    assert response.status_code == 302
    assert answered_in < 2.0, f"the request took {answered_in:.1f} s"
    job = GenerationJob.objects.get()
    page_url = reverse("admin:pool_generationjob_change", args=[job.pk])
    assert response["Location"] == page_url
    assert job.pk in thread_runner.pending()
    assert not thread_runner.submit(job.pk), "a job is queued once per process"

    seen_on_page = []
    while not job.is_finished and time.monotonic() - started < 300:
        page = admin_client.get(page_url).content.decode()
        done, total = map(int, PROGRESS.search(page).groups())
        seen_on_page.append(done)
        if done < total:
            assert 'http-equiv="refresh"' in page
        time.sleep(0.2)
        job.refresh_from_db()
    finished_in = time.monotonic() - started

    assert job.status == GenerationJob.Status.DONE, job.error
    assert finished_in > answered_in
    assert any(0 < done < 12 for done in seen_on_page), seen_on_page
    assert seen_on_page == sorted(seen_on_page)
    indices = job.records.values_list("generation_index", flat=True)
    assert sorted(indices) == list(range(12))
    page = admin_client.get(page_url).content.decode()
    assert PROGRESS.search(page).groups() == ("12", "12")
    assert "12 synthetic ECGs" in page and 'http-equiv="refresh"' not in page


def test_a_job_that_fails_in_the_background_records_its_error(
    demo_checkpoint, thread_runner, tmp_path
):
    checkpoint = tmp_path / "changing.pt"
    shutil.copy(demo_checkpoint, checkpoint)
    job = generation_job_create(
        checkpoint=checkpoint, plan=[(("AF",), 2)], steps=2, seed=1, chunk_size=1
    )
    with checkpoint.open("ab") as file:
        file.write(b"trained further")  # another checkpoint at the same path

    assert generation_job_start(job=job) == "thread"
    assert thread_runner.wait_idle(timeout=120)
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.FAILED
    assert "changed since the job was created" in job.error
    assert job.finished_at is not None and job.records.count() == 0


def test_an_unreachable_broker_runs_the_job_in_the_thread(
    demo_checkpoint, settings, thread_runner, monkeypatch
):
    from ecgstudy.celery import app

    settings.GENERATION_RUNNER = "celery"
    job = generation_job_create(
        checkpoint=demo_checkpoint, plan=[(("SR",), 2)], steps=2, seed=1
    )
    saved = app.conf.task_always_eager, app.conf.broker_url
    app.conf.task_always_eager = False
    nobody_there = "redis://127.0.0.1:9/0"  # the discard port
    app.conf.broker_url = nobody_there
    monkeypatch.setenv("CELERY_BROKER_URL", nobody_there)  # Celery reads it first
    try:
        started = time.monotonic()
        assert generation_job_start(job=job) == "thread"
        assert time.monotonic() - started < 2.0
    finally:
        app.conf.task_always_eager, app.conf.broker_url = saved
    assert thread_runner.wait_idle(timeout=120)
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.DONE and job.records.count() == 2


def test_a_job_left_running_by_a_stopped_server_shows_as_failed_and_resumes(
    admin_client, demo_checkpoint, settings, thread_runner
):
    settings.GENERATION_STALE_MINUTES = 30
    long_ago = timezone.now() - timedelta(hours=2)
    abandoned, fresh = (
        generation_job_create(
            checkpoint=demo_checkpoint, plan=[(("AF",), 1)], steps=2, seed=seed
        )
        for seed in (1, 2)
    )
    GenerationJob.objects.filter(pk=abandoned.pk).update(
        status=GenerationJob.Status.RUNNING, created_at=long_ago, started_at=long_ago
    )
    GenerationJob.objects.filter(pk=fresh.pk).update(
        status=GenerationJob.Status.RUNNING, started_at=timezone.now()
    )

    page = admin_client.get(reverse("admin:pool_generationjob_changelist"))
    assert page.status_code == 200
    abandoned.refresh_from_db()
    fresh.refresh_from_db()
    assert abandoned.status == GenerationJob.Status.FAILED
    assert "no ECG written for 30 minutes" in abandoned.error
    assert "resume the job" in abandoned.error
    assert fresh.status == GenerationJob.Status.RUNNING

    admin_client.post(
        reverse("admin:pool_generationjob_changelist"),
        {"action": "resume_jobs", "_selected_action": [abandoned.pk]},
    )
    assert thread_runner.wait_idle(timeout=120)
    abandoned.refresh_from_db()
    assert abandoned.status == GenerationJob.Status.DONE, abandoned.error
    assert abandoned.error == ""
    assert EcgRecord.objects.filter(generation_job=abandoned).count() == 1
