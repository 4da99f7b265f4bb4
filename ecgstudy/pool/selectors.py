"""Reads of the pool beyond a simple get: signals and sheets from storage."""

import io
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Count

from ecgstudy.pool.models import EcgRecord, Origin, Rhythm


def record_signal_bytes(*, record: EcgRecord) -> bytes:
    """The stored .npz of a record: ``signal`` (12, L) mV, ``fs``, ``leads``."""
    with default_storage.open(record.signal.name, "rb") as handle:
        return handle.read()


def record_signal(*, record: EcgRecord) -> np.ndarray:
    """The canonical float32 (12, L) millivolt signal of a record."""
    with np.load(io.BytesIO(record_signal_bytes(record=record))) as data:
        return data["signal"]


def record_sheet_svg(*, record: EcgRecord) -> bytes:
    """The cached 12-lead sheet of a record; empty if it was never rendered."""
    if not record.sheet:
        return b""
    with default_storage.open(record.sheet.name, "rb") as handle:
        return handle.read()


def records_without_sheet():
    return EcgRecord.objects.filter(sheet="")


def drawable_records():
    """The ECGs a study can show: with a sheet, and with their files in storage."""
    return EcgRecord.objects.filter(files_missing_since__isnull=True).exclude(sheet="")


def available_checkpoints() -> list[Path]:
    """The generator checkpoints (``*.pt``) under GENERATOR_CHECKPOINT_DIR.

    Only files that are inside the folder after following links are listed: the
    admin's generation form offers these and accepts nothing else, so a form can
    never be used to probe or read other files of the server.
    """
    folder = Path(settings.GENERATOR_CHECKPOINT_DIR).resolve()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.rglob("*.pt")):
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if resolved.is_file() and resolved.is_relative_to(folder):
            found.append(path)
    return found


def origin_rhythm_counts(records) -> dict:
    """Counts of ``records`` by rhythm (rows) and origin (columns), with totals,
    for the table above the pool list; only rhythms present are listed."""
    found = {
        (row["rhythm"], row["origin"]): row["n"]
        for row in records.order_by().values("rhythm", "origin").annotate(n=Count("pk"))
    }
    origins = list(Origin)
    rows = [
        {
            "rhythm": rhythm.label,
            "counts": [found.get((rhythm.value, o.value), 0) for o in origins],
            "total": sum(found.get((rhythm.value, o.value), 0) for o in origins),
        }
        for rhythm in Rhythm
        if any((rhythm.value, o.value) in found for o in origins)
    ]
    return {
        "origins": [o.label for o in origins],
        "rows": rows,
        "totals": [sum(row["counts"][i] for row in rows) for i in range(len(origins))],
        "total": sum(row["total"] for row in rows),
    }
