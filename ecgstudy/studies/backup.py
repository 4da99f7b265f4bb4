"""Back up and restore everything a study needs: the database and the media folder.

A backup is a folder: ``database.dump`` (pg_dump's custom format) or
``database.sqlite3``, ``media.tar.gz`` (signals, sheets, evaluation pages) and
``manifest.json`` (what it holds, for the restore to check).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ecgstudy.pool.models import EcgRecord
from ecgstudy.studies.models import Judgment, Study

MANIFEST = "manifest.json"


class BackupError(RuntimeError):
    """A backup or restore that cannot go on, with the reason."""


def _pg_environment() -> tuple[list[str], dict[str, str]]:
    database = settings.DATABASES["default"]
    arguments = [
        "--host",
        str(database.get("HOST") or "127.0.0.1"),
        "--port",
        str(database.get("PORT") or 5432),
        "--username",
        str(database.get("USER") or "postgres"),
    ]
    environment = dict(os.environ)
    if database.get("PASSWORD"):
        environment["PGPASSWORD"] = str(database["PASSWORD"])
    return arguments, environment


def _run(command: list[str], environment: dict[str, str]) -> None:
    try:
        result = subprocess.run(
            command, env=environment, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise BackupError(
            f"{command[0]} is not installed (PostgreSQL client tools)"
        ) from None
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed: {result.stderr.strip()[:2000]}")


def counts() -> dict[str, int]:
    return {
        "studies": Study.objects.count(),
        "judgments": Judgment.objects.count(),
        "records": EcgRecord.objects.count(),
    }


def counts_text(manifest: dict) -> str:
    """A manifest's counts as one line, e.g. "2 studies, 40 judgments, 361 records"."""
    return ", ".join(f"{n} {what}" for what, n in manifest["counts"].items())


def backup(target: Path) -> dict:
    """Write a backup folder at ``target`` (which must not exist); its manifest."""
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} exists already; choose a new folder")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        manifest = {
            "created_at": timezone.now().isoformat(timespec="seconds"),
            "vendor": connection.vendor,
            "counts": counts(),
        }
        if connection.vendor == "postgresql":
            arguments, environment = _pg_environment()
            _run(
                ["pg_dump", *arguments, "--format=custom", "--no-owner"]
                + ["--file", str(partial / "database.dump")]
                + [str(settings.DATABASES["default"]["NAME"])],
                environment,
            )
        elif connection.vendor == "sqlite":
            source = sqlite3.connect(settings.DATABASES["default"]["NAME"])
            copy = sqlite3.connect(partial / "database.sqlite3")
            with copy:
                source.backup(copy)
            source.close()
            copy.close()
        else:
            raise BackupError(f"no backup procedure for {connection.vendor}")
        media = Path(settings.MEDIA_ROOT)
        with tarfile.open(partial / "media.tar.gz", "w:gz") as archive:
            if media.is_dir():
                archive.add(media, arcname="media")
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def _database_is_empty() -> bool:
    return "django_migrations" not in connection.introspection.table_names()


def restore(source: Path) -> dict:
    """Restore a backup folder into an empty database and an empty media folder.

    Returns the manifest; raises BackupError if the target is not empty, the
    backup is incomplete, or what was restored does not match the manifest.
    """
    source = Path(source)
    manifest_path = source / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(f"{source} is not a backup: {MANIFEST} is missing")
    manifest = json.loads(manifest_path.read_text())
    if manifest["vendor"] != connection.vendor:
        raise BackupError(
            f"the backup is of a {manifest['vendor']} database; this one is "
            f"{connection.vendor}"
        )
    if not _database_is_empty():
        raise BackupError(
            "the database is not empty; restore into a new database "
            "(createdb, then set DATABASE_URL)"
        )
    media = Path(settings.MEDIA_ROOT)
    if media.is_dir() and any(media.iterdir()):
        raise BackupError(f"the media folder {media} is not empty")
    if connection.vendor == "postgresql":
        arguments, environment = _pg_environment()
        _run(
            ["pg_restore", *arguments, "--no-owner", "--exit-on-error"]
            + ["--dbname", str(settings.DATABASES["default"]["NAME"])]
            + [str(source / "database.dump")],
            environment,
        )
    else:
        connection.close()
        shutil.copyfile(
            source / "database.sqlite3", settings.DATABASES["default"]["NAME"]
        )
    media.mkdir(parents=True, exist_ok=True)
    with tarfile.open(source / "media.tar.gz", "r:gz") as archive:
        for member in archive.getmembers():
            if not member.name.startswith("media"):
                continue
            member.name = member.name.removeprefix("media").lstrip("/")
            if member.name:
                archive.extract(member, media, filter="data")
    restored = counts()
    if restored != manifest["counts"]:
        raise BackupError(
            f"the restored data do not match the backup: {restored} against "
            f"{manifest['counts']}"
        )
    return manifest
