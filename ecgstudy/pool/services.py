"""Writes to the pool: importing real ECGs and rendering their sheets."""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from ecgstudy.pool.models import EcgRecord, Origin
from ecgstudy.pool.render import render_sheet
from ecgstudy.pool.selectors import record_signal
from generator.datasets import SourceRecord, iter_records
from generator.ecg import LEADS, EcgError, load_canonical

logger = logging.getLogger(__name__)

IMPORT_CHUNK_SIZE = 25


@dataclass
class ImportSummary:
    """What an import did, record by record, for the command's final report."""

    imported: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (record, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (record, reason)
    dry_run: bool = False


@dataclass(frozen=True)
class _Prepared:
    source: SourceRecord
    signal: np.ndarray  # (12, L) float32 mV
    sheet: str


def signal_to_bytes(signal: np.ndarray, fs: int) -> bytes:
    """The stored form of a canonical signal: a compressed .npz."""
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, signal=signal.astype(np.float32), fs=np.int32(fs), leads=np.array(LEADS)
    )
    return buffer.getvalue()


def _save_file(folder: str, suffix: str, content: bytes, saved: list[str]) -> str:
    # Random names: a file name must never tell a real record from a synthetic one.
    name = default_storage.save(
        f"{folder}/{uuid.uuid4().hex}{suffix}", ContentFile(content)
    )
    saved.append(name)
    return name


def _write_chunk(chunk: list[_Prepared], *, fs: int) -> None:
    """Store one chunk of records: all of them with their files, or none."""
    saved: list[str] = []
    try:
        with transaction.atomic():
            for item in chunk:
                payload = signal_to_bytes(item.signal, fs)
                source = item.source
                EcgRecord.objects.create(
                    origin=Origin.REAL,
                    dataset=source.dataset,
                    source_id=source.record_id,
                    source_path=str(source.path),
                    fs=fs,
                    n_samples=item.signal.shape[1],
                    signal=_save_file("signals", ".npz", payload, saved),
                    signal_sha256=hashlib.sha256(payload).hexdigest(),
                    sheet=_save_file("sheets", ".svg", item.sheet.encode(), saved),
                    labels=list(source.labels),
                    rhythm=source.rhythm,
                    normal=source.normal,
                    age=source.age,
                    sex=source.sex or "",
                )
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise


def ecg_import(
    *,
    root: str | Path,
    fmt: str,
    labels_csv: str | Path | None = None,
    dataset: str | None = None,
    fs: int = 100,
    dry_run: bool = False,
    chunk_size: int = IMPORT_CHUNK_SIZE,
    on_record: Callable[[SourceRecord], None] | None = None,
    sources: Iterable[SourceRecord] | None = None,
) -> ImportSummary:
    """Import the WFDB records of a dataset folder into the pool in canonical form.

    Records already in the pool (same dataset and source id) are skipped, so a
    second run adds nothing. Each chunk is written in one transaction with its
    files; a crash leaves whole chunks only.
    """
    if sources is None:
        sources = list(iter_records(root, fmt, labels_csv=labels_csv, dataset=dataset))
    summary = ImportSummary(dry_run=dry_run)
    seen = set(EcgRecord.objects.values_list("dataset", "source_id"))
    chunk: list[_Prepared] = []
    for source in sources:
        name = f"{source.dataset}/{source.record_id}"
        key = (source.dataset, source.record_id)
        if key in seen:
            summary.skipped.append((name, "already in the pool"))
        else:
            seen.add(key)
            try:
                signal = load_canonical(source.path, target_fs=fs)
            except EcgError as exc:
                summary.failed.append((name, exc.reason))
            else:
                chunk.append(_Prepared(source, signal, render_sheet(signal, fs)))
        if on_record is not None:
            on_record(source)
        if len(chunk) >= chunk_size:
            summary.imported += _flush(chunk, fs=fs, dry_run=dry_run)
            chunk = []
    summary.imported += _flush(chunk, fs=fs, dry_run=dry_run)
    return summary


def _flush(chunk: list[_Prepared], *, fs: int, dry_run: bool) -> int:
    if chunk and not dry_run:
        _write_chunk(chunk, fs=fs)
    return len(chunk)


def record_render_sheet(*, record: EcgRecord) -> None:
    """(Re-)render a record's sheet from its stored signal and store it."""
    svg = render_sheet(record_signal(record=record), record.fs)
    old = record.sheet.name if record.sheet else ""
    saved: list[str] = []
    try:
        with transaction.atomic():
            record.sheet = _save_file("sheets", ".svg", svg.encode(), saved)
            record.save(update_fields=["sheet"])
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise
    if old:
        transaction.on_commit(lambda: default_storage.delete(old))
