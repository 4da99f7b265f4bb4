"""The study report and its exports: JSON of the figures, CSV of the judgments, HTML."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable

from django.template.loader import render_to_string
from django.utils import timezone

from ecgstudy.analysis.charts import report_sections
from ecgstudy.analysis.designs import design_report
from ecgstudy.analysis.report import build_report
from ecgstudy.analysis.selectors import (
    EXPORT_COLUMNS,
    study_design_table,
    study_judgment_rows,
    study_table,
)
from ecgstudy.studies.models import Study

DEFAULT_BOOTSTRAP_DRAWS = 2000
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def study_report(
    *, study: Study, n_boot: int = DEFAULT_BOOTSTRAP_DRAWS, seed: int = 0
) -> dict:
    """Every figure of a study's report (see ``analysis.report.build_report``)."""
    table, info = study_table(study=study)
    report = build_report(table, info, n_boot=n_boot, seed=seed)
    report["design"] = design_report(
        study_design_table(study=study), n_boot=n_boot, seed=seed
    )
    report["study"]["generated_at"] = timezone.now().isoformat(timespec="seconds")
    return report


def report_json(report: dict) -> str:
    return json.dumps(report, indent=2, allow_nan=False) + "\n"


def spreadsheet_safe(value: object) -> object:
    """A CSV cell that a spreadsheet shows and never runs.

    Text that starts like a formula gets a leading single quote, OWASP's rule
    against CSV injection: a reader's comment "=HYPERLINK(...)" is a live link
    in Excel otherwise. Numbers, booleans and None are written as they are, so
    -0.5 stays a number; only text is quoted, even text that looks numeric.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def rows_csv(rows: Iterable[dict], *, columns: list[str]) -> str:
    """Rows as CSV for people to open in a spreadsheet: every cell made safe."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(
        {key: spreadsheet_safe(value) for key, value in row.items()} for row in rows
    )
    return buffer.getvalue()


def judgments_csv(*, study: Study) -> str:
    """Every judgment as one tidy row; readers appear only by pseudonym."""
    return rows_csv(study_judgment_rows(study=study), columns=EXPORT_COLUMNS)


def plotly_js() -> str:
    """plotly.js from the installed plotly package: no CDN, works offline."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def report_html(*, report: dict, standalone: bool) -> str:
    """The report's body, or (``standalone``) one self-contained HTML file."""
    context = {"report": report, "sections": report_sections(report)}
    if not standalone:
        return render_to_string("analysis/report_body.html", context)
    context["plotly_js"] = plotly_js()
    return render_to_string("analysis/report_standalone.html", context)
