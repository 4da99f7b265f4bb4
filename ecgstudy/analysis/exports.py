"""The study report and its exports: JSON of the figures, CSV of the judgments, HTML."""

from __future__ import annotations

import csv
import io
import json

from django.template.loader import render_to_string
from django.utils import timezone

from ecgstudy.analysis.charts import report_sections
from ecgstudy.analysis.report import build_report
from ecgstudy.analysis.selectors import (
    EXPORT_COLUMNS,
    study_judgment_rows,
    study_table,
)
from ecgstudy.studies.models import Study

DEFAULT_BOOTSTRAP_DRAWS = 2000


def study_report(
    *, study: Study, n_boot: int = DEFAULT_BOOTSTRAP_DRAWS, seed: int = 0
) -> dict:
    """Every figure of a study's report (see ``analysis.report.build_report``)."""
    table, info = study_table(study=study)
    report = build_report(table, info, n_boot=n_boot, seed=seed)
    report["study"]["generated_at"] = timezone.now().isoformat(timespec="seconds")
    return report


def report_json(report: dict) -> str:
    return json.dumps(report, indent=2, allow_nan=False) + "\n"


def judgments_csv(*, study: Study) -> str:
    """Every judgment as one tidy row; readers appear only by pseudonym."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(study_judgment_rows(study=study))
    return buffer.getvalue()


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
