"""Shared fixtures: real data location, service checks, media folder, a browser."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

# The pool and study fixtures (pool, draft_study, launched_study) for every folder.
pytest_plugins = ["tests.study_fixtures"]

REPO_ROOT = Path(__file__).resolve().parent.parent
# Playwright's sync API runs an event loop in the test thread; Django's ORM calls
# in the same thread are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# The test models are small: one thread per process is as fast as two, and two
# processes (pytest and a Celery worker) each spinning two threads on two cores
# slow each other down a hundredfold.
os.environ.setdefault("OMP_NUM_THREADS", "1")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def services_required() -> bool:
    """CI sets ECGSTUDY_REQUIRE_SERVICES=1: a missing service is then a failure."""
    return os.environ.get("ECGSTUDY_REQUIRE_SERVICES", "") not in {"", "0", "false"}


def skip_or_fail(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (ECGSTUDY_REQUIRE_SERVICES is set)")
    pytest.skip(reason)


def ecg_data_path() -> Path:
    return Path(os.environ.get("ECG_DATA_DIR", REPO_ROOT.parent / "shared" / "ecg"))


@pytest.fixture(scope="session")
def ecg_data_dir() -> Path:
    """The shared real ECGs; tests that need them skip cleanly without them."""
    path = ecg_data_path()
    if not (path / "index.csv").is_file():
        pytest.skip(f"real ECG data not found at {path} (set ECG_DATA_DIR)")
    return path


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Each test writes its signal and sheet files to its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(scope="session")
def redis_url() -> str:
    from django.conf import settings

    url = settings.BROKER_FOR_WORKER_TESTS
    if not url.startswith("redis://"):
        skip_or_fail("CELERY_BROKER_URL does not name a Redis server")
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname, parsed.port or 6379), 2).close()
    except OSError as exc:
        skip_or_fail(f"Redis at {url} is unreachable: {exc}")
    return url


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Screenshots and other artefacts a person may want to look at."""
    path = Path(os.environ.get("TEST_OUTPUT_DIR", REPO_ROOT / "test-output"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (no downloaded browser)."""
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


DEMO_CHECKPOINT = REPO_ROOT / "fixtures" / "demo-checkpoint.pt"


@pytest.fixture(scope="session")
def demo_checkpoint() -> Path:
    if not DEMO_CHECKPOINT.is_file():
        pytest.fail(f"the committed demo checkpoint {DEMO_CHECKPOINT} is missing")
    return DEMO_CHECKPOINT


@pytest.fixture
def celery_worker(redis_url, settings, tmp_path):
    """Start real Celery workers on a private queue; the app sends tasks to Redis.

    Yields ``start()``, which launches a worker process and returns it; every
    worker is stopped at the end of the test.
    """
    from django.db import connection

    from ecgstudy.celery import app

    if connection.vendor != "postgresql":
        skip_or_fail("a worker process needs a shared database: set DATABASE_URL")
    database = connection.settings_dict
    queue = f"test-{os.getpid()}-{tmp_path.name}"
    env = dict(
        os.environ,
        CELERY_BROKER_URL=redis_url,
        DATABASE_URL=(
            f"postgres://{database.get('USER') or 'postgres'}@"
            f"{database.get('HOST') or '127.0.0.1'}:{database.get('PORT') or 5432}/"
            f"{database['NAME']}"
        ),
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        SECRET_KEY="worker-test",
        DJANGO_SETTINGS_MODULE="ecgstudy.settings",
        GENERATOR_DEVICE="cpu",
    )
    saved = (
        app.conf.task_always_eager,
        app.conf.broker_url,
        app.conf.task_default_queue,
    )
    app.conf.task_always_eager = False
    app.conf.broker_url = redis_url
    app.conf.task_default_queue = queue
    workers = []

    def start():
        log = (tmp_path / f"worker{len(workers)}.log").open("w")
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
                "--loglevel=INFO",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        workers.append(worker)
        return worker

    yield start
    app.conf.task_always_eager, app.conf.broker_url, app.conf.task_default_queue = saved
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=20)
