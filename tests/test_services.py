"""The real services behind the product: PostgreSQL and a Celery worker on Redis."""

import time

import pytest
from django.db import connection

from tests.conftest import services_required
from tests.factories import EcgRecordFactory


@pytest.mark.django_db
def test_database_is_postgresql_when_services_are_required():
    if not services_required():
        pytest.skip("ECGSTUDY_REQUIRE_SERVICES not set; any database will do")
    assert connection.vendor == "postgresql"


@pytest.mark.django_db(transaction=True)
def test_celery_worker_renders_a_sheet_through_redis(celery_worker, settings):
    from ecgstudy.pool.tasks import render_sheet_task

    record = EcgRecordFactory(sheet="")
    worker = celery_worker()
    render_sheet_task.delay(record.pk)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not record.sheet:
        assert worker.poll() is None, "the worker died"
        time.sleep(0.5)
        record.refresh_from_db()
    assert record.sheet, "the worker did not render the sheet within 60 s"
    assert (settings.MEDIA_ROOT / record.sheet.name).read_bytes().startswith(b"<svg")
