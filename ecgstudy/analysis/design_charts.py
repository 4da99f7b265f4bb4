"""The report's sections of the paired and time-limited designs (``designs.py``)."""

from __future__ import annotations

import plotly.graph_objects as go

from ecgstudy.analysis.charts import (
    REAL_COLOUR,
    SYNTHETIC_COLOUR,
    Section,
    Table,
    _figure_html,
    ci,
    num,
    p_value,
    pct,
)


def _share(row: dict) -> str:
    return f"{pct(row['rate'])} ({row['k']}/{row['n']})"


def _chance_line(figure: go.Figure) -> None:
    figure.add_hline(y=0.5, line_dash="dot", annotation_text="chance")


def paired_sections(design: dict) -> list[Section]:
    pooled, readers = design["pooled"], design["per_reader"]
    figure = go.Figure()
    figure.add_bar(
        x=[row["reader"] for row in readers] + ["all"],
        y=[row["rate"] for row in readers] + [pooled["rate"]],
        error_y={
            "type": "data",
            "symmetric": False,
            "array": [
                (row["exact_ci"][1] or 0) - (row["rate"] or 0)
                for row in [*readers, pooled]
            ],
            "arrayminus": [
                (row["rate"] or 0) - (row["exact_ci"][0] or 0)
                for row in [*readers, pooled]
            ],
        },
        marker_color=[REAL_COLOUR] * len(readers) + [SYNTHETIC_COLOUR],
    )
    _chance_line(figure)
    figure.update_yaxes(title="chose the real ECG", range=[0, 1], tickformat=".0%")
    figure.update_layout(showlegend=False)
    rows = [
        [row["reader"], _share(row), ci(row["exact_ci"]), "-", p_value(row["p_value"])]
        for row in readers
    ]
    rows.append(
        [
            "all readers",
            _share(pooled),
            ci(pooled["exact_ci"]),
            ci(pooled["bootstrap_ci"]),
            p_value(pooled["p_value"]),
        ]
    )
    return [
        Section(
            "design-paired",
            "Paired choice: which one is real?",
            chart=_figure_html(figure, height=320),
            tables=[
                (
                    "Pages on which the reader chose the real ECG",
                    Table(
                        [
                            "reader",
                            "chose the real ECG",
                            "exact 95% CI",
                            "two-way bootstrap 95% CI",
                            "p (binomial, vs 50%)",
                        ],
                        rows,
                    ),
                )
            ],
            note="Each page showed a real and a synthetic ECG of one rhythm, the "
            "real one on a side drawn at random for each reader. 50% is chance: "
            "readers who cannot tell the two apart choose the real one half the "
            "time. First readings of counted pairs; the pooled interval resamples "
            "readers and pairs.",
        )
    ]


def _exposure_table(rows: list[dict]) -> Table:
    return Table(
        ["exposure (ms)", "correct", "exact 95% CI", "p (binomial, vs 50%)"],
        [
            [
                str(row["exposure_ms"]),
                _share(row),
                ci(row["exact_ci"]),
                p_value(row["p_value"]),
            ]
            for row in rows
        ],
    )


def timed_sections(design: dict) -> list[Section]:
    figure = go.Figure()
    for row in design["per_reader"]:
        figure.add_scatter(
            x=[r["exposure_ms"] for r in row["by_exposure"]],
            y=[r["rate"] for r in row["by_exposure"]],
            mode="lines+markers",
            name=row["reader"],
            opacity=0.5,
        )
    pooled_rows = design["by_exposure"]
    figure.add_scatter(
        x=[r["exposure_ms"] for r in pooled_rows],
        y=[r["rate"] for r in pooled_rows],
        mode="lines+markers",
        name="all readers",
        line={"color": SYNTHETIC_COLOUR, "width": 3},
    )
    _chance_line(figure)
    figure.update_xaxes(title="exposure (ms)", type="log")
    figure.update_yaxes(title="correct real-or-synthetic", range=[0, 1.05])
    pooled = design["pooled"]
    tables = [
        ("All readers, by exposure", _exposure_table(pooled_rows)),
        (
            "Overall",
            Table(
                ["readers", "correct", "exact 95% CI", "two-way bootstrap 95% CI"],
                [
                    [
                        str(len(design["per_reader"])),
                        _share(pooled),
                        ci(pooled["exact_ci"]),
                        ci(pooled["bootstrap_ci"]),
                    ]
                ],
            ),
        ),
    ]
    for row in design["per_reader"]:
        tables.append(
            (f"{row['reader']}, by exposure", _exposure_table(row["by_exposure"]))
        )
    sections = [
        Section(
            "design-timed",
            "Time-limited exposure: accuracy by exposure",
            chart=_figure_html(figure, height=340),
            tables=tables,
            note="Each sheet was shown for the exposure, then removed from the "
            "page; readers answered from what they saw. First readings of "
            "counted cases.",
        )
    ]
    if design.get("staircase"):
        sections.append(_staircase_section(design))
    return sections


def _counted_exposure(row: dict) -> str:
    exposures = row["staircase"]["counted_exposures_ms"]
    return ", ".join(num(value, 0) for value in exposures) or "-"


def _staircase_section(design: dict) -> Section:
    figure = go.Figure()
    for row in design["per_reader"]:
        track = row["staircase"]
        figure.add_scatter(
            x=list(range(1, len(track["exposures_ms"]) + 1)),
            y=track["exposures_ms"],
            mode="lines+markers",
            name=row["reader"],
            marker={
                "symbol": ["circle" if c else "x" for c in track["correct"]],
                "size": 8,
            },
        )
    if design.get("threshold_ms"):
        figure.add_hline(
            y=design["threshold_ms"], line_dash="dot", annotation_text="threshold"
        )
    figure.update_xaxes(title="practice trial")
    figure.update_yaxes(title="exposure (ms)", type="log")
    rows = [
        [
            row["reader"],
            str(row["staircase"]["trials"]),
            str(row["staircase"]["reversals"]),
            num(row["staircase"]["threshold_ms"], 0),
            _counted_exposure(row),
            _share(row["overall"]) if row["overall"]["n"] else "-",
        ]
        for row in design["per_reader"]
    ]
    rows.append(
        [
            "all readers",
            "-",
            "-",
            num(design.get("threshold_ms"), 0),
            f"{design.get('readers_with_threshold', 0)} readers with a threshold",
            _share(design["pooled"]) if design["pooled"]["n"] else "-",
        ]
    )
    return Section(
        "design-staircase",
        "Staircase: the exposure at which readers reach chance",
        chart=_figure_html(figure, height=340),
        tables=[
            (
                "Threshold per reader (ms) and accuracy at the calibrated exposure",
                Table(
                    [
                        "reader",
                        "practice trials",
                        "reversals",
                        "threshold",
                        "counted cases shown at",
                        "counted correct",
                    ],
                    rows,
                ),
            )
        ],
        note="The staircase moves on practice cases only, whose answer the "
        "practice page shows anyway: one down after a correct answer, one up after "
        "a wrong one, in steps of the study's factor, so it settles where half the "
        "answers are right, which for real-or-synthetic is chance. On counted "
        "cases it would tell readers through the next exposure whether they were "
        "right; instead each reader's counted cases are all shown at the exposure "
        "their practice reached, and the last column is the accuracy there. A "
        "reader's threshold is the geometric mean of the exposures at the last six "
        "practice reversals (at least two needed); the pooled threshold is the "
        "geometric mean of the readers' thresholds. Circles: correct; crosses: "
        "wrong.",
    )


def design_sections(design: dict | None) -> list[Section]:
    """The design's sections; none for a study of one ECG at a time."""
    if not design:
        return []
    if design["design"] == "paired_2afc":
        return paired_sections(design)
    return timed_sections(design)
