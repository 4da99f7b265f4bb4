"""The real services behind the product: PostgreSQL and a Celery worker on Redis."""

import os
import subprocess
import sys
import time
import uuid

import pytest
from django.db import connection

from ecgstudy.pool.models import EcgRecord
from tests.conftest import REPO_ROOT, services_required
from tests.factories import EcgRecordFactory


@pytest.mark.django_db
def test_database_is_postgresql_when_services_are_required():
    if not services_required():
        pytest.skip("ECGSTUDY_REQUIRE_SERVICES not set; any database will do")
    assert connection.vendor == "postgresql"


@pytest.mark.django_db(transaction=True)
def test_celery_worker_renders_a_sheet_through_redis(redis_url, settings):
    from ecgstudy.pool.tasks import render_sheet_task

    record = EcgRecordFactory(sheet="")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    database = connection.settings_dict
    env = dict(
        os.environ,
        CELERY_BROKER_URL=redis_url,
        DATABASE_URL=_database_url(database),
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        SECRET_KEY="worker-test",
        DJANGO_SETTINGS_MODULE="ecgstudy.settings",
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ecgstudy",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        from ecgstudy.celery import app

        app.conf.task_always_eager = False
        app.conf.broker_url = redis_url
        try:
            render_sheet_task.apply_async(args=[record.pk], queue=queue)
        finally:
            app.conf.task_always_eager = True
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            record.refresh_from_db()
            if record.sheet:
                break
            assert worker.poll() is None, worker.stdout.read().decode()
            time.sleep(0.5)
        assert record.sheet, "the worker did not render the sheet within 60 s"
        assert (
            (settings.MEDIA_ROOT / record.sheet.name).read_bytes().startswith(b"<svg")
        )
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    assert EcgRecord.objects.count() == 1


def _database_url(database: dict) -> str:
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{database['NAME']}"
    user = database.get("USER") or "postgres"
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{database['NAME']}"
