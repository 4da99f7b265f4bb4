"""Writes to the pool: importing real ECGs, generating synthetic ones, sheets."""

from __future__ import annotations

import hashlib
import io
import logging
import math
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from ecgstudy.pool.models import (
    EcgRecord,
    GenerationJob,
    GeneratorEvaluation,
    Origin,
    Rhythm,
    SyntheticSource,
)
from ecgstudy.pool.render import render_sheet
from ecgstudy.pool.selectors import record_sheet_svg, record_signal
from generator.datasets import (
    DatasetError,
    SourceRecord,
    apply_labels,
    iter_records,
    read_labels_csv,
)
from generator.ecg import (
    CANONICAL_FS,
    DURATION_S,
    LEADS,
    EcgError,
    canonical_lead_name,
    load_canonical,
)

logger = logging.getLogger(__name__)

IMPORT_CHUNK_SIZE = 25


@dataclass
class ImportSummary:
    """What an import did, record by record, for the command's final report."""

    imported: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (record, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (record, reason)
    # Imported records with a label stored as unknown: (record, what and why)
    warned: list[tuple[str, str]] = field(default_factory=list)
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


@contextmanager
def _files_removed_on_error() -> Iterator[list[str]]:
    """Collect the names of files saved inside the block; delete them if it fails,
    so a rolled-back transaction leaves no orphan file behind."""
    saved: list[str] = []
    try:
        yield saved
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise


def _save_file(folder: str, suffix: str, content: bytes, saved: list[str]) -> str:
    # Random names: a file name must never tell a real record from a synthetic one.
    name = default_storage.save(
        f"{folder}/{uuid.uuid4().hex}{suffix}", ContentFile(content)
    )
    saved.append(name)
    return name


def _write_chunk(chunk: list[_Prepared], *, fs: int) -> None:
    """Store one chunk of real records: all of them with their files, or none."""
    with _files_removed_on_error() as saved, transaction.atomic():
        _store_records(chunk, fs=fs, saved=saved)


def _store_records(
    items: Iterable[_Prepared],
    *,
    fs: int,
    saved: list[str],
    synthetic_source: SyntheticSource | None = None,
) -> None:
    """Create the records of prepared ECGs with their files, inside the caller's
    transaction; synthetic ones (with ``synthetic_source``) or real ones."""
    origin = Origin.REAL if synthetic_source is None else Origin.SYNTHETIC
    for item in items:
        payload = signal_to_bytes(item.signal, fs)
        source = item.source
        EcgRecord.objects.create(
            origin=origin,
            synthetic_source=synthetic_source,
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
    second run adds nothing. A record that cannot be read fails alone with its
    reason; every file it names must lie inside ``root``. Each chunk is written
    in one transaction with its files; a crash leaves whole chunks only. A bad
    labels CSV raises ``generator.datasets.LabelsError`` (a ValueError) before
    anything is written.
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
                signal = load_canonical(source.path, root=root, target_fs=fs)
            except EcgError as exc:
                summary.failed.append((name, exc.reason))
            else:
                chunk.append(_Prepared(source, signal, render_sheet(signal, fs)))
                summary.warned.extend((name, text) for text in source.warnings)
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


# Synthetic sets from elsewhere ------------------------------------------------------

ARRAY_SUFFIXES = (".npy", ".npz")
SYNTHETIC_DATASET = "synthetic"  # every synthetic record's dataset: says no source
_SHA256 = re.compile(r"[0-9a-f]{64}")


class SyntheticImportError(ValueError):
    """A synthetic set that cannot be imported as given; says what and what is
    allowed. Raised before anything is written."""


def synthetic_source_get_or_create(
    *, name: str, version: str = "", citation: str = "", checkpoint_sha256: str = ""
) -> tuple[SyntheticSource, bool]:
    """The imported source of that name and version, created if new.

    An existing source is taken as it is when the citation and hash given agree
    with it (or are empty); a different one is an error, as two sets must not
    share a name and version.
    """
    name, version = name.strip(), version.strip()
    sha = checkpoint_sha256.strip().lower()
    if not name:
        raise SyntheticImportError("a source needs a name (e.g. --name SSSD-ECG)")
    if len(name) > 100 or len(version) > 64:
        raise SyntheticImportError(
            "a source's name is at most 100 characters and its version at most 64"
        )
    if sha and not _SHA256.fullmatch(sha):
        raise SyntheticImportError(
            f"checkpoint SHA-256 {checkpoint_sha256!r} is not 64 hexadecimal digits"
        )
    source, created = SyntheticSource.objects.get_or_create(
        name=name,
        version=version,
        defaults={
            "citation": citation.strip(),
            "checkpoint_sha256": sha,
            "kind": SyntheticSource.Kind.IMPORTED,
        },
    )
    if not created:
        for what, given, stored in (
            ("citation", citation.strip(), source.citation),
            ("checkpoint SHA-256", sha, source.checkpoint_sha256),
        ):
            if given and given != stored:
                raise SyntheticImportError(
                    f"source {source.label!r} exists with another {what} "
                    f"({stored or 'none'}); give another --version"
                )
    return source, created


def _lead_order(leads: Sequence[str]) -> list[str]:
    """The canonical spelling of a lead order that names the 12 leads once each."""
    names = [canonical_lead_name(lead) for lead in leads]
    unknown = [lead for lead, name in zip(leads, names, strict=True) if name is None]
    if unknown or len(names) != len(LEADS) or set(names) != set(LEADS):
        problem = f"unknown lead(s) {', '.join(unknown)}; " if unknown else ""
        raise SyntheticImportError(
            f"lead order {','.join(leads)}: {problem}it must name the 12 standard "
            f"leads once each, e.g. {','.join(LEADS)}"
        )
    return names


def _array_shape(path: Path) -> tuple[int, ...]:
    """The shape of an array file's ECGs, read without loading a ``.npy``."""
    try:
        if path.suffix == ".npy":
            return np.load(path, mmap_mode="r").shape
        with np.load(path) as archive:
            found = archive.files
            shape = archive["signals"].shape if "signals" in found else None
    except (OSError, ValueError, EOFError) as exc:
        raise SyntheticImportError(f"{path}: not a readable array file: {exc}") from exc
    if shape is None:
        raise SyntheticImportError(
            f"{path}: an .npz needs a 'signals' array (n, 12, samples); found "
            f"{', '.join(found) or 'none'}"
        )
    return shape


def _check_array(path: Path, *, fs: float | None, pool_fs: int) -> int:
    """Check an array file's shape, rate and length; return its number of ECGs."""
    if fs is None:
        raise SyntheticImportError(
            f"{path}: an array file needs its sampling rate (--fs, in Hz)"
        )
    if not (math.isfinite(fs) and fs > 0):
        raise SyntheticImportError(f"sampling rate must be positive Hz, got {fs:g}")
    if fs < pool_fs:
        raise SyntheticImportError(
            f"sampling rate {fs:g} Hz is below the pool's rate of {pool_fs} Hz: "
            "upsampling would invent the missing band, and the smoothness would "
            "tell readers the origin"
        )
    shape = _array_shape(path)
    if len(shape) != 3:
        raise SyntheticImportError(
            f"{path}: expected an array (n, 12, samples), got shape {shape}"
        )
    if shape[1] != len(LEADS):
        raise SyntheticImportError(
            f"{path}: ECGs have {shape[1]} leads (shape {shape}); need 12, in the "
            "order --lead-order gives"
        )
    needed = math.ceil(DURATION_S * fs)
    if shape[2] < needed:
        raise SyntheticImportError(
            f"{path}: ECGs are {shape[2] / fs:.2f} s long ({shape[2]} samples at "
            f"{fs:g} Hz); need at least {DURATION_S:g} s ({needed} samples)"
        )
    if shape[0] == 0:
        raise SyntheticImportError(f"{path}: holds no ECG")
    return shape[0]


def _labels_check(
    path: Path, labels_csv: str | Path | None, names: Iterable[str], *, has_labels
) -> None:
    """Raise unless the labels CSV rows match the ECGs ``names`` one to one (rows
    for an ECG without its own labels) and every ECG ends up with a label."""
    names = list(names)
    rows = read_labels_csv(Path(labels_csv)) if labels_csv else {}
    unknown = sorted(set(rows) - set(names))
    if unknown:
        raise SyntheticImportError(
            f"labels CSV {labels_csv}: rows name ECGs that {path} does not hold: "
            f"{_some(unknown)} (the 'record' column holds "
            + (
                "0-based indices of the array)"
                if path.is_file()
                else "record names of the folder)"
            )
        )
    missing = [name for name in names if not has_labels(name, rows.get(name))]
    if missing:
        where = f"labels CSV {labels_csv}" if labels_csv else "no labels CSV (--labels)"
        raise SyntheticImportError(
            f"{path}: missing labels for {len(missing)} of {len(names)} ECGs "
            f"({_some(missing)}); {where}: give each ECG a row with its labels "
            "or rhythm"
        )


def _some(names: list[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _row_has_labels(row: dict[str, str] | None) -> bool:
    return bool(row) and any(row.get(key, "").strip() for key in ("labels", "rhythm"))


def _with_rhythm_label(record: SourceRecord) -> SourceRecord:
    """A record labelled only by its rhythm stores that rhythm as its label."""
    return record if record.labels else replace(record, labels=(record.rhythm,))


def _array_records(
    path: Path, labels_csv: str | Path | None, n: int
) -> list[SourceRecord]:
    names = [str(i) for i in range(n)]
    _labels_check(
        path, labels_csv, names, has_labels=lambda _, row: _row_has_labels(row)
    )
    rows = read_labels_csv(Path(labels_csv))
    return [
        _with_rhythm_label(
            apply_labels(
                SourceRecord(
                    path=path,
                    record_id=name,
                    dataset=SYNTHETIC_DATASET,
                    labels=(),
                    rhythm="other",
                    normal=None,
                ),
                rows[name],
            )
        )
        for name in names
    ]


def _folder_records(root: Path, labels_csv: str | Path | None) -> list[SourceRecord]:
    records = list(iter_records(root, "folder", labels_csv=labels_csv))
    # A header's own `# Dx:` codes label a record without a row in the CSV.
    own = {record.record_id: bool(record.labels) for record in records}
    _labels_check(
        root,
        labels_csv,
        own,
        has_labels=lambda name, row: own[name] or _row_has_labels(row),
    )
    return [
        _with_rhythm_label(replace(record, dataset=SYNTHETIC_DATASET))
        for record in records
    ]


def synthetic_import(
    *,
    path: str | Path,
    name: str,
    version: str = "",
    citation: str = "",
    checkpoint_sha256: str = "",
    labels_csv: str | Path | None = None,
    lead_order: Sequence[str] | None = None,
    fs: float | None = None,
    on_record: Callable[[str], None] | None = None,
) -> tuple[SyntheticSource | None, ImportSummary]:
    """File another group's synthetic ECGs in the pool as synthetic, with their
    source, through the canonical form and the renderer of every other record.

    ``path`` is a folder of WFDB records (leads and rate read from the headers)
    or an array file: ``.npy`` (n, 12, samples) or ``.npz`` with a ``signals``
    array, in millivolts, leads in ``lead_order`` (default the canonical order)
    at ``fs`` Hz, labelled by ``labels_csv`` (column ``record``: the 0-based
    index; ``labels`` separated by semicolons and/or ``rhythm``; optional
    ``normal``, ``age``, ``sex``). A folder's CSV is keyed by record name and
    may be left out where the headers carry `# Dx:` codes.

    Raises SyntheticImportError (a ValueError) naming the problem before
    anything is written: a wrong lead count or order, a rate that is not
    positive or below the pool's, ECGs shorter than 10 s, missing labels, CSV
    rows that match no ECG, an unknown rhythm. A record of a folder that cannot
    be read fails alone and the others are imported. Everything else is written
    in one transaction with its files, or nothing is; ECGs already filed under
    the source are skipped. Returns the source (None if nothing was written)
    and what was done.
    """
    from django.conf import settings

    from generator.compare import load_array_set

    path = Path(path)
    pool_fs = settings.POOL_FS
    signals: np.ndarray | None = None
    if path.is_dir():
        if fs is not None or lead_order is not None:
            raise SyntheticImportError(
                f"{path} is a WFDB folder: its headers give each record's rate and "
                "lead names; --fs and --lead-order are for array files"
            )
        try:
            records = _folder_records(path, labels_csv)
        except DatasetError as exc:
            raise SyntheticImportError(str(exc)) from exc
    elif path.is_file() and path.suffix in ARRAY_SUFFIXES:
        if pool_fs != CANONICAL_FS:
            raise SyntheticImportError(
                f"array files are put at the generator's rate of {CANONICAL_FS} Hz, "
                f"but POOL_FS is {pool_fs} Hz"
            )
        leads = _lead_order(lead_order or LEADS)
        n = _check_array(path, fs=fs, pool_fs=pool_fs)
        try:
            records = _array_records(path, labels_csv, n)
        except DatasetError as exc:
            raise SyntheticImportError(str(exc)) from exc
        try:
            signals = load_array_set(path, leads=leads, fs=fs).signals
        except ValueError as exc:
            raise SyntheticImportError(str(exc)) from exc
    else:
        raise SyntheticImportError(
            f"{path}: neither a folder of WFDB records nor an array file "
            f"({', '.join(ARRAY_SUFFIXES)})"
        )

    summary = ImportSummary()
    with _files_removed_on_error() as saved, transaction.atomic():
        source, created = synthetic_source_get_or_create(
            name=name,
            version=version,
            citation=citation,
            checkpoint_sha256=checkpoint_sha256,
        )
        if source.kind != SyntheticSource.Kind.IMPORTED:
            raise SyntheticImportError(
                f"{source.label!r} is one of this product's checkpoints; name the "
                "imported set otherwise"
            )
        seen = set(
            source.records.filter(dataset=SYNTHETIC_DATASET).values_list(
                "source_id", flat=True
            )
        )
        chunk: list[_Prepared] = []
        for index, record in enumerate(records):
            label = record.record_id if signals is None else f"{path.name}[{index}]"
            record = replace(record, record_id=f"src{source.pk}-{record.record_id}")
            if record.record_id in seen:
                summary.skipped.append((label, "already in the pool"))
            else:
                try:
                    signal = (
                        signals[index]
                        if signals is not None
                        else load_canonical(record.path, root=path, target_fs=pool_fs)
                    )
                except EcgError as exc:
                    summary.failed.append((label, exc.reason))
                else:
                    chunk.append(
                        _Prepared(record, signal, render_sheet(signal, pool_fs))
                    )
                    summary.warned.extend((label, text) for text in record.warnings)
            if len(chunk) >= IMPORT_CHUNK_SIZE:
                _store_records(chunk, fs=pool_fs, saved=saved, synthetic_source=source)
                summary.imported += len(chunk)
                chunk = []
            if on_record is not None:
                on_record(label)
        _store_records(chunk, fs=pool_fs, saved=saved, synthetic_source=source)
        summary.imported += len(chunk)
        if created and not summary.imported:
            transaction.set_rollback(True)
            return None, summary
    return source, summary


def synthetic_import_upload(
    *, signals, labels, **arguments
) -> tuple[SyntheticSource | None, ImportSummary]:
    """``synthetic_import`` of an uploaded array file and labels CSV (Django
    uploaded files), read from a temporary folder that is removed afterwards.
    Errors name the uploaded files, never the temporary folder."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ecg-import-") as folder:
        paths = []
        for upload, stem in ((signals, "signals"), (labels, "labels")):
            path = Path(folder) / f"{stem}{Path(upload.name).suffix.lower()}"
            with path.open("wb") as handle:
                for piece in upload.chunks():
                    handle.write(piece)
            paths.append(path)
        try:
            return synthetic_import(path=paths[0], labels_csv=paths[1], **arguments)
        except ValueError as exc:
            text = str(exc)
            for path, upload in zip(paths, (signals, labels), strict=True):
                text = text.replace(str(path), upload.name)
            raise SyntheticImportError(text) from exc


def record_render_sheet(*, record: EcgRecord) -> str:
    """(Re-)render a record's sheet from its stored signal, store it, return it.

    Raises FileNotFoundError if the signal is not in storage. A record whose
    files were found missing is whole again once this succeeds.
    """
    svg = render_sheet(record_signal(record=record), record.fs)
    old = record.sheet.name if record.sheet else ""
    with _files_removed_on_error() as saved, transaction.atomic():
        record.sheet = _save_file("sheets", ".svg", svg.encode(), saved)
        record.files_missing_since = None
        record.save(update_fields=["sheet", "files_missing_since"])
    if old:
        transaction.on_commit(lambda: default_storage.delete(old))
    return svg


def record_rebuild_limb_leads(*, record: EcgRecord) -> bool:
    """Give a record stored before every ECG shared one lead construction the
    canonical form's limb leads (II, III, aVR, aVL from I and aVF), store the new
    signal and draw its sheet again. Returns whether the signal changed; a
    record already in that form is left as it is.

    Raises FileNotFoundError if the signal is not in storage.
    """
    from generator.ecg import rebuild_limb_leads

    signal = record_signal(record=record)
    rebuilt = rebuild_limb_leads(signal.astype(np.float64)).astype(np.float32)
    if np.allclose(rebuilt, signal, rtol=0, atol=1e-5):
        return False
    payload = signal_to_bytes(rebuilt, record.fs)
    old = record.signal.name
    with _files_removed_on_error() as saved, transaction.atomic():
        record.signal = _save_file("signals", ".npz", payload, saved)
        record.signal_sha256 = hashlib.sha256(payload).hexdigest()
        record.save(update_fields=["signal", "signal_sha256"])
        transaction.on_commit(lambda: default_storage.delete(old))
    record_render_sheet(record=record)
    return True


def record_sheet_ensure(*, record: EcgRecord) -> bytes | None:
    """The record's sheet for a reader's case page, even if its file is gone.

    A sheet missing from storage is drawn again from the signal by the renderer
    of the import (``record_render_sheet``), stored again and served, with a
    warning in the log. If the signal is gone too, the record is marked
    ``files_missing_since``, which makes every reader skip its unanswered cases
    (see ``studies.selectors``), an error is logged and None is returned.
    """
    try:
        svg = record_sheet_svg(record=record)
    except FileNotFoundError:
        svg = b""
    if svg:
        return svg
    lost = record.sheet.name
    with transaction.atomic():
        locked = EcgRecord.objects.select_for_update().get(pk=record.pk)
        if locked.sheet.name != lost:  # another request has just redrawn it
            record.sheet = locked.sheet
            return record_sheet_svg(record=locked)
        try:
            svg = record_render_sheet(record=locked)
        except FileNotFoundError:
            locked.files_missing_since = locked.files_missing_since or timezone.now()
            locked.save(update_fields=["files_missing_since"])
            record.files_missing_since = locked.files_missing_since
            logger.error(
                "ECG record %s: neither its sheet %r nor its signal %r is in "
                "storage; readers skip its cases until the files are restored and "
                "its sheet rendered again (manage.py render_sheets --force)",
                record.pk,
                lost,
                record.signal.name,
            )
            return None
    record.sheet, record.files_missing_since = locked.sheet, None
    logger.warning(
        "ECG record %s: its sheet %r was not in storage; redrawn from the signal "
        "and stored as %r",
        record.pk,
        lost,
        record.sheet.name,
    )
    return svg.encode()


# Synthetic ECGs -----------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """A slice of a generation job: ``n`` ECGs of one label set from ``start``."""

    index: int
    labels: tuple[str, ...]
    start: int
    n: int


def parse_label_counts(text: str) -> list[tuple[tuple[str, ...], int]]:
    """'AF=50,SR+NORM=50' -> [(('AF',), 50), (('SR', 'NORM'), 50)].

    A '+' joins labels that every ECG of that group carries together.
    """
    plan: list[tuple[tuple[str, ...], int]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        labels_text, sep, count_text = part.partition("=")
        labels = tuple(s.strip() for s in labels_text.split("+") if s.strip())
        if not sep or not labels:
            raise ValueError(
                f"{part!r} is not LABEL=COUNT (e.g. AF=50,SR=50 or SR+NORM=20)"
            )
        try:
            count = int(count_text)
        except ValueError:
            raise ValueError(f"{part!r}: the count must be a whole number") from None
        if count < 1:
            raise ValueError(f"{part!r}: the count must be at least 1")
        plan.append((labels, count))
    if not plan:
        raise ValueError("no label counts given (e.g. AF=50,SR=50)")
    return plan


def job_chunks(job: GenerationJob) -> list[Chunk]:
    """The job's chunks in order; a chunk never spans two label sets."""
    chunks: list[Chunk] = []
    start = 0
    for labels, count in job.plan:
        for offset in range(0, count, job.chunk_size):
            n = min(job.chunk_size, count - offset)
            chunks.append(Chunk(len(chunks), tuple(labels), start + offset, n))
        start += count
    return chunks


def chunk_seed(job_seed: int, chunk_index: int) -> int:
    """The seed of one chunk, derived from the job's seed and the chunk's index."""
    state = np.random.SeedSequence([job_seed, chunk_index]).generate_state(1)
    return int(state[0])


def generation_request_check(
    *,
    checkpoint: str | Path,
    plan: list[tuple[tuple[str, ...], int]],
    sampler: str,
    steps: int,
    guidance: float,
    chunk_size: int,
) -> None:
    """Raise ValueError naming what is wrong with a generation request, if anything:
    a missing or unreadable checkpoint, labels it does not know (listing the ones
    it does), an unknown sampler, or numbers out of range."""
    from generator.api import checkpoint_labels

    path = Path(checkpoint)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} not found")
    if sampler not in GenerationJob.Sampler.values:
        raise ValueError(
            f"sampler must be one of {', '.join(GenerationJob.Sampler.values)}, "
            f"got {sampler!r}"
        )
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if guidance < 0:
        raise ValueError(f"guidance must be 0 or more, got {guidance}")
    if chunk_size < 1:
        raise ValueError(f"chunk size must be at least 1, got {chunk_size}")
    if not plan:
        raise ValueError("no label counts given (e.g. AF=50,SR=50)")
    try:
        known = checkpoint_labels(path)
    except Exception as exc:
        raise ValueError(f"checkpoint {path} cannot be loaded: {exc}") from exc
    unknown = sorted({label for labels, _ in plan for label in labels} - set(known))
    if unknown:
        raise ValueError(
            f"unknown label(s) {', '.join(unknown)}; "
            f"this checkpoint knows {', '.join(known)}"
        )


def generation_job_create(
    *,
    checkpoint: str | Path,
    plan: list[tuple[tuple[str, ...], int]],
    sampler: str = "ddim",
    steps: int = 50,
    guidance: float = 1.0,
    seed: int | None = None,
    chunk_size: int = 8,
    privacy_reference: str | Path = "",
    privacy_learnt_from: Sequence[str | Path] = (),
    created_by=None,
) -> GenerationJob:
    """Check a request against its checkpoint and store it as a queued job.

    ``privacy_reference``, a dataset folder with an index.csv (its train, val and test
    splits), makes every chunk redraw an ECG closer to a training patient than
    the folder's unseen patients come (generator.privacy);
    ``privacy_learnt_from``, the other folders the generator learnt from (its
    shape and millivolt data), adds their patients to the training ones.

    Without a seed the job gets a fresh random one, stored with it so that it
    reproduces: a fixed default would make every job repeat the first one's ECGs.
    """
    from generator.checkpoint import file_sha256

    if privacy_reference and not (Path(privacy_reference) / "index.csv").is_file():
        raise ValueError(
            f"privacy reference {privacy_reference} has no index.csv: give the "
            "dataset folder the generator was trained on (train and val splits)"
        )
    if privacy_learnt_from and not privacy_reference:
        raise ValueError(
            "the folders a generator learnt from extend a privacy reference: "
            "give the dataset folder too"
        )
    for folder in privacy_learnt_from:
        if not Path(folder).is_dir():
            raise ValueError(f"privacy reference: no such folder {folder}")
    generation_request_check(
        checkpoint=checkpoint,
        plan=plan,
        sampler=sampler,
        steps=steps,
        guidance=guidance,
        chunk_size=chunk_size,
    )
    return GenerationJob.objects.create(
        checkpoint_path=str(checkpoint),
        checkpoint_sha256=file_sha256(checkpoint),
        plan=[[list(labels), int(count)] for labels, count in plan],
        sampler=sampler,
        steps=steps,
        guidance=guidance,
        seed=secrets.randbelow(2**31) if seed is None else seed,
        chunk_size=chunk_size,
        total=sum(count for _, count in plan),
        privacy_reference=str(privacy_reference) if privacy_reference else "",
        privacy_learnt_from=[str(folder) for folder in privacy_learnt_from],
        created_by=created_by,
    )


def synthetic_source_for_job(*, job: GenerationJob) -> SyntheticSource:
    """The source of a job's ECGs: its checkpoint, found by hash, or recorded now
    under the checkpoint's file name and the start of its hash."""
    sha = job.checkpoint_sha256
    found = (
        SyntheticSource.objects.filter(
            kind=SyntheticSource.Kind.CHECKPOINT, checkpoint_sha256=sha
        )
        .order_by("pk")
        .first()
    )
    if found is not None:
        return found
    source, _ = SyntheticSource.objects.get_or_create(
        name=Path(job.checkpoint_path).stem[:100] or "checkpoint",
        version=sha[:12],
        defaults={"kind": SyntheticSource.Kind.CHECKPOINT, "checkpoint_sha256": sha},
    )
    return source


def _pending_chunks(job: GenerationJob) -> list[Chunk]:
    written = set(job.records.values_list("generation_index", flat=True))
    return [
        chunk
        for chunk in job_chunks(job)
        if not written.issuperset(range(chunk.start, chunk.start + chunk.n))
    ]


def _reopen(job: GenerationJob) -> list[Chunk]:
    """Put a new, failed or cancelled job back in the queue; return its open chunks."""
    pending = _pending_chunks(job)
    status = GenerationJob.Status.QUEUED if pending else GenerationJob.Status.DONE
    GenerationJob.objects.filter(pk=job.pk).update(
        status=status, error="", finished_at=None if pending else job.finished_at
    )
    job.refresh_from_db()
    return pending


def generation_job_queue(*, job: GenerationJob) -> list[int]:
    """Send the job's unwritten chunks to the Celery workers; resumes a stopped job."""
    from ecgstudy.pool.tasks import generate_chunk_task

    pending = _reopen(job)
    for chunk in pending:
        transaction.on_commit(
            lambda k=chunk.index: generate_chunk_task.delay(job.pk, k)
        )
    return [chunk.index for chunk in pending]


def generation_job_run(
    *, job: GenerationJob, progress: Callable[[int], None] | None = None
) -> GenerationJob:
    """Run the job's unwritten chunks here, one after another (no broker needed).

    ``progress(n_written)`` is called after each chunk. Stops at the first failed
    chunk (the job is then marked failed) or when the job is cancelled.
    """
    for chunk in _reopen(job):
        written = generation_chunk_run(job_id=job.pk, chunk_index=chunk.index)
        if progress is not None:
            progress(written)
        job.refresh_from_db()
        if job.status == GenerationJob.Status.CANCELLED:
            break
    job.refresh_from_db()
    return job


def generation_job_start(*, job: GenerationJob) -> str:
    """Start or resume a job without making the caller wait for its ECGs.

    With a broker (``GENERATION_RUNNER = "celery"``) the job's chunks go to the
    Celery workers; without one, or when the broker does not answer, the job
    runs in this process's background thread (``ecgstudy.pool.background``)
    once the current transaction commits. Returns where it runs: "celery" or
    "thread".
    """
    from django.conf import settings

    from ecgstudy.pool import background

    runner = settings.GENERATION_RUNNER
    if runner == "celery" and not _broker_reachable():
        logger.warning(
            "generation job %s: the Celery broker does not answer; running the "
            "job in this server's background thread instead",
            job.pk,
        )
        runner = "thread"
    if runner == "celery":
        generation_job_queue(job=job)
        return runner
    background.fail_stale_jobs()
    if _reopen(job):
        transaction.on_commit(lambda: background.runner.submit(job.pk))
    return runner


def _broker_reachable() -> bool:
    from ecgstudy.celery import app

    if app.conf.task_always_eager:
        return True  # tasks run in the caller; no broker is asked
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=2
            )
    except Exception as exc:  # kombu wraps every transport's error differently
        logger.warning("Celery broker unreachable: %s", exc)
        return False
    return True


def generation_job_run_queued(*, job_id: int) -> GenerationJob | None:
    """Run a job started with ``generation_job_start`` in the background thread.

    A job cancelled or finished meanwhile is left alone (None). A chunk's
    failure is already on the job; any other error is recorded on it here.
    Never raises: nobody waits on the thread for an exception.
    """
    try:
        job = GenerationJob.objects.get(pk=job_id)
        if job.status in {GenerationJob.Status.DONE, GenerationJob.Status.CANCELLED}:
            return None
        return generation_job_run(job=job)
    except Exception as exc:
        logger.exception("generation job %s stopped in the background", job_id)
        try:
            GenerationJob.objects.filter(
                pk=job_id,
                status__in=[GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING],
            ).update(
                status=GenerationJob.Status.FAILED,
                error=f"{type(exc).__name__}: {exc}"[:5000],
                finished_at=timezone.now(),
            )
        except Exception:
            logger.exception("generation job %s: its failure was not stored", job_id)
        return None


def generation_jobs_fail(*, job_ids: Iterable[int], reason: str) -> int:
    """Mark failed those of the given jobs still queued or running; return how many.

    Chunks already written are kept; resuming the job writes only the others.
    """
    return GenerationJob.objects.filter(
        pk__in=list(job_ids),
        status__in=[GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING],
    ).update(
        status=GenerationJob.Status.FAILED,
        error=reason[:5000],
        finished_at=timezone.now(),
    )


def generation_jobs_fail_stale(
    *, stale_after: timedelta, keep: Iterable[int] = ()
) -> int:
    """Mark failed every queued or running job with no sign of life (created,
    started, or an ECG written) for ``stale_after``, except the ``keep`` ids;
    return how many. Such a job was left behind by a server that stopped.
    """
    from django.db.models import OuterRef, Subquery
    from django.db.models.functions import Coalesce, Greatest

    newest_record = (
        EcgRecord.objects.filter(generation_job=OuterRef("pk"))
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    stale = (
        GenerationJob.objects.filter(
            status__in=[GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING]
        )
        .exclude(pk__in=list(keep))
        .annotate(
            last_sign_of_life=Greatest(
                "created_at",
                Coalesce("started_at", "created_at"),
                Coalesce(Subquery(newest_record), "created_at"),
            )
        )
        .filter(last_sign_of_life__lt=timezone.now() - stale_after)
    )
    minutes = stale_after.total_seconds() / 60
    return generation_jobs_fail(
        job_ids=stale.values_list("pk", flat=True),
        reason=(
            f"no ECG written for {minutes:g} minutes: the server process that ran "
            "the job stopped. The ECGs written are kept; resume the job with the "
            "action 'Start or resume the selected jobs'."
        ),
    )


def generation_job_cancel(*, job: GenerationJob) -> bool:
    """Stop a queued or running job; chunks already written are kept."""
    stopped = GenerationJob.objects.filter(
        pk=job.pk,
        status__in=[GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING],
    ).update(status=GenerationJob.Status.CANCELLED, finished_at=timezone.now())
    job.refresh_from_db()
    return bool(stopped)


def _fail_job(job_id: int, message: str) -> None:
    GenerationJob.objects.filter(pk=job_id).exclude(
        status=GenerationJob.Status.CANCELLED
    ).update(
        status=GenerationJob.Status.FAILED,
        error=message[:5000],
        finished_at=timezone.now(),
    )


def generation_chunk_run(*, job_id: int, chunk_index: int) -> int:
    """Generate, canonicalise, render and store one chunk; return ECGs written.

    Safe to run twice or on several workers at once: ECGs already stored are
    skipped (a unique key on job and index), and a cancelled or failed job
    writes nothing. A failure marks the job failed with its error and leaves no
    partial record of this chunk.
    """
    job = GenerationJob.objects.get(pk=job_id)
    if job.status in {GenerationJob.Status.CANCELLED, GenerationJob.Status.FAILED}:
        return 0
    chunk = job_chunks(job)[chunk_index]
    indices = range(chunk.start, chunk.start + chunk.n)
    if set(job.records.values_list("generation_index", flat=True)).issuperset(indices):
        return 0
    GenerationJob.objects.filter(pk=job_id, status=GenerationJob.Status.QUEUED).update(
        status=GenerationJob.Status.RUNNING, started_at=timezone.now()
    )
    try:
        prepared = _generate_chunk(job, chunk)
        return _write_generated(job_id, chunk, prepared)
    except Exception as exc:
        _fail_job(job_id, f"chunk {chunk_index}: {type(exc).__name__}: {exc}")
        logger.exception("generation job %s chunk %s failed", job_id, chunk_index)
        raise


def _generate_chunk(job: GenerationJob, chunk: Chunk) -> list[_Generated]:
    from django.conf import settings

    from generator import api
    from generator.ecg import canonicalize
    from generator.privacy import generate_private, load_reference

    def draw(n: int, seed: int):
        return api.generate(
            job.checkpoint_path,
            list(chunk.labels),
            n=n,
            seed=seed,
            steps=job.steps,
            sampler=job.sampler,
            guidance=job.guidance,
            device=settings.GENERATOR_DEVICE,
        )

    seed = chunk_seed(job.seed, chunk.index)
    signals, provenance = draw(chunk.n, seed)
    # generate() hashes the file once per load; no need to read it again here.
    if provenance.checkpoint_sha256 != job.checkpoint_sha256:
        raise ValueError(
            f"checkpoint {job.checkpoint_path} changed since the job was created"
        )
    checks = [None] * chunk.n
    if job.privacy_reference:
        signals, checks = generate_private(
            lambda redraw: draw(1, redraw)[0][0],
            signals,
            seed,
            load_reference(job.privacy_reference, tuple(job.privacy_learnt_from)),
        )
    prepared = []
    for k, (signal, check) in enumerate(zip(signals, checks, strict=True)):
        # The same canonical form and renderer as every real record.
        canonical = canonicalize(
            signal,
            provenance.fs,
            target_fs=settings.POOL_FS,
            record=f"job {job.pk} ECG {chunk.start + k}",
        )
        prepared.append(
            _Generated(canonical, render_sheet(canonical, settings.POOL_FS), check)
        )
    return prepared


@dataclass(frozen=True)
class _Generated:
    signal: np.ndarray  # canonical (12, L)
    sheet: str
    privacy: object | None  # generator.privacy.PrivacyCheck, with a reference


def _write_generated(job_id: int, chunk: Chunk, prepared: list[_Generated]) -> int:
    from django.conf import settings

    rhythm = next((label for label in chunk.labels if label in Rhythm.values), "other")
    written = 0
    with _files_removed_on_error() as saved, transaction.atomic():
        job = GenerationJob.objects.select_for_update().get(pk=job_id)
        if job.status in {
            GenerationJob.Status.CANCELLED,
            GenerationJob.Status.FAILED,
        }:
            return 0
        existing = set(job.records.values_list("generation_index", flat=True))
        source = synthetic_source_for_job(job=job)
        for k, item in enumerate(prepared):
            index = chunk.start + k
            if index in existing:
                continue
            payload = signal_to_bytes(item.signal, settings.POOL_FS)
            EcgRecord.objects.create(
                origin=Origin.SYNTHETIC,
                dataset="synthetic",
                source_id=f"job{job.pk}-{index}",
                fs=settings.POOL_FS,
                n_samples=item.signal.shape[1],
                signal=_save_file("signals", ".npz", payload, saved),
                signal_sha256=hashlib.sha256(payload).hexdigest(),
                sheet=_save_file("sheets", ".svg", item.sheet.encode(), saved),
                labels=list(chunk.labels),
                rhythm=rhythm,
                normal="NORM" in chunk.labels,
                generation_job=job,
                generation_index=index,
                synthetic_source=source,
                generation_seed=chunk_seed(job.seed, chunk.index),
                privacy_similarity=item.privacy.similarity if item.privacy else None,
                privacy_redraws=item.privacy.redraws if item.privacy else 0,
            )
            written += 1
        job.n_done = job.records.count()
        if job.n_done == job.total:
            job.status = GenerationJob.Status.DONE
            job.finished_at = timezone.now()
        job.save(update_fields=["n_done", "status", "finished_at"])
    return written


def _closest_pair_sheets(evaluation) -> str:
    """The synthetic ECG nearest to a training record, and that record, drawn as
    the sheets readers see, for the researcher to judge by eye."""
    from html import escape

    from generator.ecg import CANONICAL_FS

    pair = evaluation.results["memorisation"]["closest_pair"]
    figures = [
        f"<figure><figcaption>{escape(caption)}</figcaption>"
        f"{render_sheet(signal, CANONICAL_FS)}</figure>"
        for caption, signal in (
            (f"Synthetic {pair['synthetic']}", evaluation.closest_synthetic),
            (f"Nearest training record {pair['train']}", evaluation.closest_train),
        )
    ]
    return (
        f"<h2>The closest pair (distance {pair['distance']:.3f}; a synthetic ECG is "
        f"flagged below {pair['threshold']:.3f} for {escape(pair['collection'])})"
        "</h2>" + "".join(figures)
    )


def generator_evaluation_run(
    *,
    checkpoint: str | Path,
    data_dir: str | Path,
    split: str = "test",
    label_sets: list[list[str]] | None = None,
    n_per_label: int = 50,
    steps: int = 50,
    seed: int = 0,
    n_boot: int = 1000,
    device: str = "cpu",
    progress: Callable[[str], None] | None = None,
) -> GeneratorEvaluation:
    """Evaluate a checkpoint against real ECGs and store the figures and summary.

    Raises ValueError (bad checkpoint, labels, split or data) before anything is
    written; the row and its summary file are stored together or not at all.
    """
    import time

    from generator.checkpoint import file_sha256
    from generator.evaluate import evaluate_checkpoint

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ValueError(f"checkpoint {checkpoint} does not exist")
    started = time.perf_counter()
    evaluation = evaluate_checkpoint(
        checkpoint,
        data_dir,
        split=split,
        n_per_label=n_per_label,
        steps=steps,
        seed=seed,
        n_boot=n_boot,
        device=device,
        progress=progress,
        label_sets=label_sets,
    )
    return _evaluation_store(
        evaluation,
        title=f"Evaluation of {checkpoint.name}",
        path=str(checkpoint),
        sha256=file_sha256(checkpoint),
        seconds=time.perf_counter() - started,
    )


def generator_evaluation_of_source(
    *,
    source: SyntheticSource,
    data_dir: str | Path,
    split: str = "test",
    seed: int = 0,
    n_boot: int = 1000,
    progress: Callable[[str], None] | None = None,
) -> GeneratorEvaluation:
    """Evaluate the ECGs a source has in the pool (another group's imported set, or
    a checkpoint's generated ECGs) against real ECGs, as generator_evaluation_run
    does for a checkpoint: the same figures, stored the same way.

    Raises ValueError before anything is written if the source has fewer than 2
    ECGs whose files are in storage, or the pool's rate is not the generator's.
    """
    import time

    from django.conf import settings

    from generator.ecg import CANONICAL_FS
    from generator.evaluate import EcgSet, evaluate_set

    if settings.POOL_FS != CANONICAL_FS:
        raise ValueError(
            f"the evaluation works at {CANONICAL_FS} Hz; this pool is at "
            f"{settings.POOL_FS} Hz"
        )
    records = list(
        EcgRecord.objects.filter(
            synthetic_source=source, files_missing_since__isnull=True
        ).order_by("pk")
    )
    if len(records) < 2:
        raise ValueError(
            f"{source.label} has {len(records)} ECG(s) in the pool; at least 2 needed"
        )
    started = time.perf_counter()
    synthetic = EcgSet(
        np.stack([record_signal(record=r) for r in records]),
        [r.rhythm for r in records],
        [r.normal for r in records],
        [f"record-{r.pk}" for r in records],
    )
    evaluation = evaluate_set(
        synthetic,
        data_dir,
        split=split,
        n_boot=n_boot,
        seed=seed,
        progress=progress,
        parameters={"source": source.label, "source_id": source.pk},
    )
    return _evaluation_store(
        evaluation,
        title=f"Evaluation of {source.label}",
        path=f"source:{source.label}",
        sha256=source.checkpoint_sha256,
        seconds=time.perf_counter() - started,
    )


def _evaluation_store(
    evaluation, *, title: str, path: str, sha256: str, seconds: float
) -> GeneratorEvaluation:
    """The figures and their summary page, stored together or not at all."""
    from generator.evaluate import summary_html

    results = evaluation.results
    page = summary_html(
        results,
        evaluation.images,
        title,
        extra_html=_closest_pair_sheets(evaluation),
    )
    with _files_removed_on_error() as saved, transaction.atomic():
        return GeneratorEvaluation.objects.create(
            checkpoint_path=path,
            checkpoint_sha256=sha256,
            parameters=results.pop("parameters"),
            results=results,
            summary=_save_file("evaluations", ".html", page.encode(), saved),
            seconds=seconds,
        )
