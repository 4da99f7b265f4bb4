"""Running the server: allowed host names, the generation runner, logging, plotly."""

import os
import re
import socket
import subprocess
import sys

import pytest
from django.test import Client
from django.urls import reverse

from ecgstudy.settings import bind_allowed_hosts
from tests.conftest import REPO_ROOT

LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}


def settings_value(expression: str, **env) -> subprocess.CompletedProcess:
    """Import the project's settings with this environment, print an expression."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"ALLOWED_HOSTS", "DEMO_BIND", "CELERY_BROKER_URL", "GENERATION_RUNNER"}
    }
    return subprocess.run(
        [sys.executable, "-c", f"import ecgstudy.settings as s; print({expression})"],
        cwd=REPO_ROOT,
        env=clean | {"SECRET_KEY": "x" * 50} | env,
        capture_output=True,
        text=True,
    )


# ALLOWED_HOSTS follows the address the demo listens on --------------------------


@pytest.mark.parametrize("bind", ["8000", "127.0.0.1:8000", "localhost:8000"])
def test_a_loopback_bind_allows_only_loopback_names(bind):
    assert set(bind_allowed_hosts(bind)) == LOOPBACK


@pytest.mark.parametrize("bind", ["0.0.0.0:8000", "[::]:8000", "0.0.0.0"])
def test_binding_every_address_allows_the_machines_own_names(bind):
    hosts = set(bind_allowed_hosts(bind))
    assert LOOPBACK | {socket.gethostname(), socket.getfqdn()} <= hosts
    assert "*" not in hosts and "0.0.0.0" not in hosts


def test_a_bind_to_one_address_allows_that_address():
    assert set(bind_allowed_hosts("192.168.1.20:8000")) == LOOPBACK | {"192.168.1.20"}
    assert "[fd00::5]" in bind_allowed_hosts("[fd00::5]:8000")


def test_the_demo_bind_sets_allowed_hosts_unless_they_are_given():
    shown = settings_value("s.ALLOWED_HOSTS", DEMO_BIND="0.0.0.0:8000")
    assert socket.gethostname() in shown.stdout, shown.stderr
    shown = settings_value(
        "s.ALLOWED_HOSTS", DEMO_BIND="0.0.0.0:8000", ALLOWED_HOSTS="ecg.example"
    )
    assert shown.stdout.strip() == "['ecg.example']"
    shown = settings_value("s.ALLOWED_HOSTS")
    assert shown.stdout.strip() == "['127.0.0.1', 'localhost']"


def test_make_demo_passes_its_host_to_the_settings():
    plan = subprocess.run(
        ["make", "-n", "demo", "HOST=0.0.0.0:8000"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    runserver = [line for line in plan.stdout.splitlines() if "runserver" in line]
    assert runserver and "DEMO_BIND=0.0.0.0:8000" in runserver[0], plan.stdout


@pytest.mark.django_db
def test_another_machine_reaches_a_demo_bound_to_every_address(client, settings):
    settings.ALLOWED_HOSTS = bind_allowed_hosts("0.0.0.0:8000")
    name = socket.gethostname()
    assert client.get("/healthz/", HTTP_HOST=f"{name}:8000").status_code == 200
    assert client.get("/healthz/", HTTP_HOST="attacker.example").status_code == 400


# Where generation jobs run ------------------------------------------------------


def test_generation_runs_in_a_thread_without_a_broker_and_on_celery_with_one():
    assert settings_value("s.GENERATION_RUNNER").stdout.strip() == "thread"
    with_broker = settings_value(
        "s.GENERATION_RUNNER", CELERY_BROKER_URL="redis://127.0.0.1:6379/0"
    )
    assert with_broker.stdout.strip() == "celery"
    forced = settings_value(
        "s.GENERATION_RUNNER",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        GENERATION_RUNNER="thread",
    )
    assert forced.stdout.strip() == "thread"
    wrong = settings_value("s.GENERATION_RUNNER", GENERATION_RUNNER="inline")
    assert wrong.returncode != 0
    assert "GENERATION_RUNNER must be celery or thread" in wrong.stderr


# Logging ------------------------------------------------------------------------


@pytest.mark.parametrize("debug", ["1", "0"])
def test_a_log_record_is_printed_once(debug):
    code = (
        "import django, logging; django.setup();"
        "logging.getLogger('django.request').warning('marker-django');"
        "logging.getLogger('ecgstudy.pool.services').warning('marker-pool')"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"LOG_LEVEL", "CELERY_BROKER_URL"}
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env
        | {
            "DEBUG": debug,
            "SECRET_KEY": "x" * 50,
            "DJANGO_SETTINGS_MODULE": "ecgstudy.settings",
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("marker-django") == 1, result.stderr
    assert result.stderr.count("marker-pool") == 1, result.stderr


# plotly.js is a static file browsers keep -----------------------------------------


@pytest.mark.django_db
def test_the_report_loads_plotly_from_a_static_file_browsers_keep(
    researcher_client, launched_study, settings
):
    page = researcher_client.get(
        reverse("admin:studies_study_report", args=[launched_study.pk])
    )
    assert page.status_code == 200
    sources = re.findall(r'<script src="([^"]+)"', page.content.decode())
    plotly_src = next(src for src in sources if "plotly" in src)

    redirect = researcher_client.get(plotly_src)
    assert redirect.status_code == 302
    static_url = redirect["Location"]
    assert static_url.startswith("/" + settings.STATIC_URL.lstrip("/"))
    assert re.search(r"/vendor/plotly-[\d.]+/plotly\.min\.js$", static_url)
    assert "no-store" not in redirect["Cache-Control"]
    assert "max-age=86400" in redirect["Cache-Control"]

    # Served by WhiteNoise from the installed plotly package, without collectstatic.
    settings.WHITENOISE_USE_FINDERS = True
    response = Client().get(static_url)
    assert response.status_code == 200
    cache = response["Cache-Control"]
    assert "immutable" in cache and "no-store" not in cache
    assert int(re.search(r"max-age=(\d+)", cache).group(1)) >= 365 * 24 * 3600
    head = b"".join(response.streaming_content)[:2000]
    assert b"plotly.js" in head
