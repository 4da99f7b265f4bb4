"""`manage.py import_ecgs PATH`: real ECGs from a WFDB dataset into the pool."""

import re
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ecgstudy.pool.services import ecg_import
from generator.datasets import (
    FORMATS,
    DatasetError,
    LabelsError,
    detect_format,
    iter_records,
)


def write_details(write, summary) -> None:
    """An import's skipped reasons (counted), failures and warnings, a line each."""
    reasons: dict[str, int] = {}
    for _, reason in summary.skipped:
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in sorted(reasons.items()):
        write(f"  skipped {count}: {reason}")
    for record, reason in summary.failed:
        write(_one_line(f"  failed {record}: {reason}"))
    for record, warning in summary.warned:
        write(_one_line(f"  warning {record}: {warning}"))


def _one_line(text: str) -> str:
    """Control characters (a newline in a file name) escaped: one line per record."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], text)


class Command(BaseCommand):
    help = (
        "Import the WFDB records of a dataset folder into the pool in canonical form "
        "(10 s, resampled, filtered, millivolts) and render their 12-lead sheets."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="Dataset folder.")
        parser.add_argument(
            "--format",
            dest="fmt",
            choices=(*FORMATS, "auto"),
            default="auto",
            help="Layout of the folder; 'auto' guesses it from its marker files.",
        )
        parser.add_argument(
            "--labels",
            type=Path,
            help="CSV keyed by record name (column 'record'; optional labels, "
            "rhythm, normal, age, sex) that overrides the source's labels.",
        )
        parser.add_argument(
            "--dataset",
            help="Dataset name stored with each record (default: by format).",
        )
        parser.add_argument(
            "--fs",
            type=int,
            default=None,
            help="Target sampling rate in Hz (default: POOL_FS, normally 100).",
        )
        parser.add_argument(
            "--min-likelihood",
            type=float,
            default=0.0,
            help="PTB-XL: keep diagnostic statements at least this likely (0-100); "
            "rhythm statements are always kept.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Read and check, write nothing."
        )

    def handle(self, *args, path: Path, fmt: str, labels, dataset, fs, dry_run, **opts):
        min_likelihood = opts["min_likelihood"]
        fs = fs or settings.POOL_FS
        if fs <= 0:
            raise CommandError(f"--fs must be a positive rate in Hz, got {fs}")
        if not path.is_dir():
            raise CommandError(f"{path} is not a folder")
        if fmt == "auto":
            fmt = detect_format(path)
            if fmt is None:
                raise CommandError(
                    f"{path}: no known layout found (no ptbxl_database.csv, "
                    "record_list.csv or WFDB headers); pass --format"
                )
        try:
            sources = list(
                iter_records(
                    path,
                    fmt,
                    labels_csv=labels,
                    dataset=dataset,
                    min_likelihood=min_likelihood,
                )
            )
        except LabelsError as exc:
            raise CommandError(f"--labels: {exc}") from exc
        except (DatasetError, KeyError) as exc:
            raise CommandError(f"{path} is not a valid '{fmt}' folder: {exc}") from exc
        if not sources:
            raise CommandError(f"{path}: no records found in the '{fmt}' layout")

        with tqdm(
            total=len(sources), desc=f"import {path.name}", unit="ecg", disable=None
        ) as bar:
            summary = ecg_import(
                root=path,
                fmt=fmt,
                fs=fs,
                dry_run=dry_run,
                sources=sources,
                on_record=lambda _: bar.update(),
            )
        verb = "would import" if dry_run else "imported"
        self.stdout.write(
            f"{path} ({fmt}): {verb} {summary.imported}, "
            f"skipped {len(summary.skipped)}, failed {len(summary.failed)}"
        )
        write_details(self.stdout.write, summary)
