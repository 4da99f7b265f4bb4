"""Settings come from the environment, with safe defaults for a laptop."""

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT


def load_settings(**env) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "SECRET_KEY",
            "DEBUG",
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "MEDIA_ROOT",
        }
    }
    code = (
        "import ecgstudy.settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME']);"
        "print(s.CELERY_TASK_ALWAYS_EAGER, s.MEDIA_ROOT)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
    )


def test_secret_key_is_required_unless_debug():
    result = load_settings()
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert load_settings(DEBUG="1").returncode == 0


def test_defaults_are_sqlite_under_var_and_eager_tasks():
    result = load_settings(SECRET_KEY="x" * 50)
    engine_line, celery_line = result.stdout.splitlines()
    assert engine_line.startswith("django.db.backends.sqlite3")
    assert engine_line.endswith(str(REPO_ROOT / "var" / "db.sqlite3"))
    assert celery_line == f"True {REPO_ROOT / 'var' / 'media'}"


def test_database_and_broker_come_from_the_environment():
    result = load_settings(
        SECRET_KEY="x" * 50,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/somedb",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/3",
        MEDIA_ROOT="/srv/ecg-media",
    )
    engine_line, celery_line = result.stdout.splitlines()
    assert engine_line == "django.db.backends.postgresql somedb"
    assert celery_line == "False /srv/ecg-media"
