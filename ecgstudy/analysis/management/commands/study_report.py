"""`manage.py study_report STUDY --format html|json|csv --out PATH`."""

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ecgstudy.analysis import exports
from ecgstudy.studies.selectors import study_by_key, study_keys_text


class Command(BaseCommand):
    help = (
        "Write a study's report: html (one self-contained file with charts), json "
        "(every figure) or csv (every judgment, readers by pseudonym)."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="The study's number or its exact name.")
        parser.add_argument("--format", choices=["html", "json", "csv"], default="html")
        parser.add_argument("--out", type=Path, required=True, help="File to write.")
        parser.add_argument(
            "--bootstrap",
            type=int,
            default=exports.DEFAULT_BOOTSTRAP_DRAWS,
            help="Bootstrap draws for the intervals (default: %(default)s).",
        )
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, study: str, format: str, out: Path, **options):
        found = self._study(study)
        if options["bootstrap"] < 1:
            raise CommandError("--bootstrap must be at least 1")
        if not out.parent.is_dir():
            raise CommandError(f"the folder {out.parent} does not exist")
        if format == "csv":
            content = exports.judgments_csv(study=found)
        else:
            report = exports.study_report(
                study=found, n_boot=options["bootstrap"], seed=options["seed"]
            )
            if format == "json":
                content = exports.report_json(report)
            else:
                content = exports.report_html(report=report, standalone=True)
        # Written next to the target and renamed: never a half-written report.
        handle, temporary = tempfile.mkstemp(dir=out.parent, suffix=".part")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(content)
            os.replace(temporary, out)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self.stdout.write(
            self.style.SUCCESS(f"Wrote the {format} report of “{found}” to {out}")
        )

    def _study(self, key: str):
        study = study_by_key(key)
        if study is None:
            raise CommandError(f"no study {key!r}; studies are: {study_keys_text()}")
        return study
