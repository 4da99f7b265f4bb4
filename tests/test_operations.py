"""Deployment checks and a backup restored into an empty database finds every answer."""

import os
import secrets
import subprocess
import sys

import psycopg2
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from ecgstudy.studies.models import Assignment, Judgment
from ecgstudy.studies.services import Answers, judgment_submit
from tests.conftest import REPO_ROOT, skip_or_fail


def manage(*args: str, environment: dict) -> subprocess.CompletedProcess:
    """manage.py in its own process, with its own environment."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )


def test_deploy_check_is_clean_with_production_settings(tmp_path):
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECURE_", "DEBUG"))
    } | {
        "DJANGO_SETTINGS_MODULE": "ecgstudy.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "ecg.example.org",
        "CSRF_TRUSTED_ORIGINS": "https://ecg.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
        "SECURE_HSTS_PRELOAD": "1",
    }
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", environment=environment
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.fixture
def empty_database():
    """A new, empty PostgreSQL database next to the test database; dropped after."""
    if connection.vendor != "postgresql":
        skip_or_fail("the backup test needs PostgreSQL: set DATABASE_URL")
    settings = connection.settings_dict
    name = f"ecgstudy_restore_{os.getpid()}"
    params = {
        "host": settings.get("HOST") or "127.0.0.1",
        "port": settings.get("PORT") or 5432,
        "user": settings.get("USER") or "postgres",
        "password": settings.get("PASSWORD") or None,
    }
    admin = psycopg2.connect(dbname="postgres", **params)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield name, params
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.mark.django_db(transaction=True)
def test_a_backup_restored_into_an_empty_database_has_every_answer(
    pool, empty_database, tmp_path, settings
):
    from ecgstudy.studies.services import study_launch
    from tests.study_fixtures import make_study

    study = study_launch(study=make_study())
    for assignment in Assignment.objects.filter(participation__study=study):
        judgment_submit(
            assignment=assignment,
            answers=Answers(origin="real", confidence=2, diagnosis=("SR",)),
        )
    expected = set(
        Judgment.objects.values_list("assignment__token", "origin", "confidence")
    )
    assert len(expected) == 30
    backup = tmp_path / "backup"
    call_command("backup_data", backup)
    with pytest.raises(CommandError, match="exists already"):
        call_command("backup_data", backup)

    name, params = empty_database
    restored_media = tmp_path / "restored-media"
    database_url = (
        f"postgres://{params['user']}@{params['host']}:{params['port']}/{name}"
    )
    environment = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="ecgstudy.settings",
        SECRET_KEY="restore-test",
        DATABASE_URL=database_url,
        MEDIA_ROOT=str(restored_media),
    )
    result = manage("restore_data", str(backup), environment=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Restored" in result.stdout

    restored = psycopg2.connect(dbname=name, **params)
    with restored.cursor() as cursor:
        cursor.execute(
            "SELECT a.token, j.origin, j.confidence FROM studies_judgment j "
            "JOIN studies_assignment a ON a.id = j.assignment_id"
        )
        assert set(cursor.fetchall()) == expected
        cursor.execute("SELECT sheet, signal FROM pool_ecgrecord")
        files = cursor.fetchall()
    restored.close()
    assert files and all((restored_media / sheet).is_file() for sheet, _ in files)
    assert all((restored_media / signal).is_file() for _, signal in files)

    again = manage("restore_data", str(backup), environment=environment)
    assert again.returncode != 0 and "not empty" in again.stderr
