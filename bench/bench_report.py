"""Time the whole study report on 30 readers x 400 cases with 2,000 bootstrap draws.

    .venv/bin/python bench/bench_report.py [--readers 30] [--cases 400] [--boot 2000]

Builds every figure (`build_report`) and renders the HTML body with its plotly
charts (`report_html`), the work behind the admin's report page; the goal is
under 3 s on two cores. The standalone HTML export adds plotly.js (4.8 MB) to it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecgstudy.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

from ecgstudy.analysis.exports import report_html  # noqa: E402
from ecgstudy.analysis.report import build_report  # noqa: E402
from tests.analysis.simulate import simulate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=30)
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--boot", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    table, info = simulate(readers=args.readers, cases=args.cases, repeats=40)
    print(
        f"{args.readers} readers x {args.cases} cases (+40 repeats each): "
        f"{len(table)} judgments, {args.boot} bootstrap draws"
    )
    builds, renders = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        report = build_report(table, info, n_boot=args.boot)
        middle = time.perf_counter()
        report["study"]["generated_at"] = "now"
        report_html(report=report, standalone=False)
        end = time.perf_counter()
        builds.append(middle - start)
        renders.append(end - middle)
    total = [b + r for b, r in zip(builds, renders, strict=True)]
    print(f"build_report  median {statistics.median(builds):.2f} s")
    print(f"report_html   median {statistics.median(renders):.2f} s")
    print(f"total         median {statistics.median(total):.2f} s (goal < 3 s)")


if __name__ == "__main__":
    main()
