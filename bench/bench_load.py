"""Load benchmark: 50 readers answer 20 cases each against gunicorn and PostgreSQL.

    .venv/bin/pip install -e ".[bench]"      # locust
    .venv/bin/python bench/bench_load.py [--readers 50] [--cases 20] [--workers 4]

Creates a fresh database (``ecgstudy_load`` on the server of DATABASE_URL, default
postgres://postgres@127.0.0.1:5432; dropped at the end unless --keep), a pool and a
launched study, starts gunicorn on loopback, runs bench/locustfile.py headless (some
answers submitted twice, some from two tabs at once), then checks the database:
exactly one answer per reader, case and round, none lost. Prints p50/p95 of the
case page, the submit and a view that touches no database (the floor), and the
count of 5xx responses.
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load-test-password"
SETUP = """
from ecgstudy.pool.models import Origin, Rhythm
from ecgstudy.studies.models import CaseQuota, Study
from ecgstudy.studies.services import participation_create, reader_create, study_launch
from tests.factories import (
    EcgRecordFactory, GenerationJobFactory, SyntheticRecordFactory,
)

per_group = {cases} // 4
job = GenerationJobFactory()
for rhythm in (Rhythm.AF, Rhythm.SR):
    EcgRecordFactory.create_batch(per_group, rhythm=rhythm)
    SyntheticRecordFactory.create_batch(per_group, rhythm=rhythm, generation_job=job)
study = Study.objects.create(name="Load", seed=1, repeat_fraction=0)
for origin in (Origin.REAL, Origin.SYNTHETIC):
    for rhythm in (Rhythm.AF, Rhythm.SR):
        CaseQuota.objects.create(
            study=study, origin=origin, rhythm=rhythm, count=per_group
        )
for n in range(1, {readers} + 1):
    reader = reader_create(username=f"loadreader{{n:03d}}", password="{password}")
    participation_create(study=study, reader=reader)
study_launch(study=study)
print(study.pk)
"""
CHECK = """
from django.db.models import Count
from ecgstudy.studies.models import Assignment, Judgment
assignments = Assignment.objects.filter(participation__study_id={study})
per_assignment = Judgment.objects.filter(assignment__in=assignments).values(
    "assignment").annotate(n=Count("pk"))
print(assignments.count(), Judgment.objects.filter(assignment__in=assignments).count(),
      max((row["n"] for row in per_assignment), default=0),
      assignments.filter(judgment__isnull=True).count())
"""


def manage(env: dict, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


LOAD_DATABASE = "ecgstudy_load"


def _pg_arguments(url: str) -> list[str]:
    parsed = urlparse(url)
    common = ["-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 5432)]
    return common + ["-U", parsed.username or "postgres"]


def drop_database(url: str) -> None:
    subprocess.run(
        ["dropdb", *_pg_arguments(url), "--if-exists", "--force", LOAD_DATABASE],
        check=True,
    )


def recreate_database(url: str) -> str:
    drop_database(url)
    subprocess.run(["createdb", *_pg_arguments(url), LOAD_DATABASE], check=True)
    return urlparse(url)._replace(path=f"/{LOAD_DATABASE}").geturl()


def wait_until_up(url: str, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer at {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--cases", type=int, default=20, help="a multiple of 4")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument(
        "--keep", action="store_true", help="keep the ecgstudy_load database after"
    )
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecgstudy")
    if not base.startswith("postgres"):
        raise SystemExit("the load benchmark runs on PostgreSQL: set DATABASE_URL")
    work = Path(tempfile.mkdtemp(prefix="ecgstudy-load-"))
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="ecgstudy.settings",
        DATABASE_URL=recreate_database(base),
        MEDIA_ROOT=str(work / "media"),
        SECRET_KEY=secrets.token_urlsafe(40),
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1",
        # Plain HTTP on loopback: no secure cookies, no HTTPS redirect.
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        LOG_LEVEL="WARNING",
        OMP_NUM_THREADS="1",
    )
    print("migrating and filling the database ...", flush=True)
    manage(env, "migrate", "--no-input")
    manage(env, "collectstatic", "--no-input", "--verbosity", "0")
    setup = SETUP.format(cases=args.cases, readers=args.readers, password=PASSWORD)
    study = manage(env, "shell", "--no-imports", "-c", setup).strip().splitlines()[-1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "ecgstudy.wsgi",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    host = f"http://127.0.0.1:{args.port}"
    try:
        wait_until_up(f"{host}/healthz/")
        print(f"{args.readers} readers x {args.cases} cases against {host}", flush=True)
        started = time.time()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "--users",
                str(args.readers),
                "--spawn-rate",
                "25",
                "--run-time",
                "10m",
                "--host",
                host,
                "--csv",
                str(work / "load"),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=dict(
                env,
                LOAD_STUDY=study,
                LOAD_PASSWORD=PASSWORD,
                LOAD_READERS=str(args.readers),
            ),
            check=False,
        )
        elapsed = time.time() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    with (work / "load_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    with (work / "load_failures.csv").open() as handle:
        failures = list(csv.DictReader(handle))
    server_errors = sum(
        int(row["Occurrences"]) for row in failures if "50" in row["Error"]
    )
    print(f"\nfinished in {elapsed:.0f} s")
    print(f"{'request':18} {'count':>6} {'fail':>5} {'p50 ms':>7} {'p95 ms':>7}")
    for name in ("floor", "case page", "submit", "submit again", "submit (2 tabs)"):
        row = rows.get(name)
        if row:
            print(
                f"{name:18} {row['Request Count']:>6} {row['Failure Count']:>5} "
                f"{row['50%']:>7} {row['95%']:>7}"
            )
    check = manage(env, "shell", "--no-imports", "-c", CHECK.format(study=study))
    assignments, answers, most, unanswered = map(int, check.split())
    print(
        f"\n{assignments} assignments, {answers} answers, at most {most} per "
        f"assignment, {unanswered} unanswered, {server_errors} server errors (5xx)"
    )
    floor = float(rows["floor"]["95%"])
    for name in ("case page", "submit"):
        ratio = float(rows[name]["95%"]) / floor if floor else float("inf")
        print(f"p95 of {name} / p95 of the floor: {ratio:.1f} (goal <= 2)")
    if not args.keep:
        drop_database(base)
        shutil.rmtree(work, ignore_errors=True)
    if not (answers == assignments and most == 1 and unanswered == 0):
        raise SystemExit("FAILED: answers lost or duplicated")
    if server_errors:
        raise SystemExit("FAILED: server errors")


if __name__ == "__main__":
    main()
