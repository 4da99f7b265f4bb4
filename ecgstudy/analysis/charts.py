"""The report's sections as plotly charts, each with the table of numbers behind it."""

from __future__ import annotations

from dataclasses import dataclass, field

import plotly.graph_objects as go

REAL_COLOUR = "#1d5fa8"
SYNTHETIC_COLOUR = "#c2410c"
QUALITY_COLOURS = {"good": "#1f7a4d", "acceptable": "#d4a017", "poor": "#b42318"}
CHART_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    css_class: str = ""  # e.g. "sortable wrap": headings sort, long text wraps


@dataclass
class Section:
    """A heading, an optional chart (as an HTML div), its tables and a note."""

    key: str
    title: str
    chart: str = ""
    tables: list[tuple[str, Table]] = field(default_factory=list)
    note: str = ""


def pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def num(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ci(interval, fmt=pct) -> str:
    low, high = interval if interval else (None, None)
    if low is None or high is None:
        return "-"
    return f"{fmt(low)} to {fmt(high)}"


def rate(block: dict) -> str:
    """A rate with its counts, e.g. "83.3% (10/12)"."""
    return f"{pct(block['rate'])} ({block['correct']}/{block['n']})"


def p_value(value) -> str:
    if value is None:
        return "-"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _figure_html(figure: go.Figure, height: int = 360) -> str:
    figure.update_layout(
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        template="plotly_white",
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"},
    )
    return figure.to_html(full_html=False, include_plotlyjs=False, config=CHART_CONFIG)


def _error_bars(rows, value_key: str, ci_key: str) -> dict:
    values = [row.get(value_key) or 0 for row in rows]
    lows = [(row.get(ci_key) or [None, None])[0] for row in rows]
    highs = [(row.get(ci_key) or [None, None])[1] for row in rows]
    return {
        "type": "data",
        "symmetric": False,
        "array": [
            (h - v) if h is not None else 0 for v, h in zip(values, highs, strict=True)
        ],
        "arrayminus": [
            (v - lo) if lo is not None else 0
            for v, lo in zip(values, lows, strict=True)
        ],
    }


def _detection_rows(rows: list[dict], key: str) -> Table:
    return Table(
        columns=[
            key.capitalize(),
            "readers" if key != "reader" else "judgments",
            "accuracy",
            "95% CI (exact)",
            "sensitivity",
            "specificity",
            "p (vs 50%)",
            "ROC AUC",
        ],
        rows=[
            [
                str(row[key]),
                str(row["readers"] if key != "reader" else row.get("n", 0)),
                pct(row.get("accuracy")),
                ci(row.get("exact_ci")),
                pct(row.get("sensitivity")),
                pct(row.get("specificity")),
                p_value(row.get("p_value")),
                num(row.get("auc")),
            ]
            for row in rows
        ],
    )


def detection_sections(detection: dict | None) -> list[Section]:
    if not detection or "pooled" not in detection:
        return []
    pooled = detection["pooled"]
    boot = pooled.get("bootstrap_ci", {})
    sections = []
    summary = Table(
        columns=["figure", "value", "95% CI", "interval"],
        rows=[
            ["judgments (first readings)", str(pooled["n"]), "", ""],
            [
                "accuracy",
                pct(pooled.get("accuracy")),
                ci(pooled.get("exact_ci")),
                "exact (Clopper-Pearson)",
            ],
            ["", "", ci(pooled.get("wilson_ci")), "Wilson"],
            ["", "", ci(boot.get("accuracy")), "two-way bootstrap (readers x cases)"],
            [
                "p, accuracy vs 50%",
                p_value(pooled.get("p_value")),
                "",
                "exact binomial, two-sided",
            ],
            [
                "sensitivity (synthetic called synthetic)",
                pct(pooled.get("sensitivity")),
                ci(boot.get("sensitivity")),
                "two-way bootstrap",
            ],
            [
                "specificity (real called real)",
                pct(pooled.get("specificity")),
                ci(boot.get("specificity")),
                "two-way bootstrap",
            ],
            [
                "ROC AUC of signed confidence",
                num(pooled.get("auc")),
                ci(boot.get("auc"), num),
                "two-way bootstrap",
            ],
        ],
    )
    confusion = pooled.get("confusion", {})
    matrix = Table(
        columns=["truth \\ answer", "real", "synthetic"],
        rows=[
            [
                "real",
                str(confusion.get("real_called_real", "-")),
                str(confusion.get("real_called_synthetic", "-")),
            ],
            [
                "synthetic",
                str(confusion.get("synthetic_called_real", "-")),
                str(confusion.get("synthetic_called_synthetic", "-")),
            ],
        ],
    )
    sections.append(
        Section(
            "detection",
            "Real or synthetic: pooled over readers",
            tables=[("Pooled", summary), ("Answers", matrix)],
            note=pooled.get("note", ""),
        )
    )

    readers = detection["per_reader"]
    figure = go.Figure(
        go.Bar(
            x=[row["reader"] for row in readers],
            y=[row.get("accuracy") or 0 for row in readers],
            error_y=_error_bars(readers, "accuracy", "exact_ci"),
            marker_color=REAL_COLOUR,
            hovertemplate="%{x}: %{y:.1%}<extra></extra>",
        )
    )
    figure.add_hline(
        y=0.5, line_dash="dash", line_color="#666", annotation_text="chance"
    )
    figure.update_yaxes(range=[0, 1], tickformat=".0%", title="accuracy")
    sections.append(
        Section(
            "per-reader",
            "Accuracy per reader (exact 95% CI)",
            chart=_figure_html(figure),
            tables=[("Per reader", _detection_rows(readers, "reader"))],
        )
    )
    sections.append(
        Section(
            "per-group",
            "Per site and per experience",
            tables=[
                ("Per site", _detection_rows(detection["per_site"], "site")),
                (
                    "Per experience",
                    _detection_rows(detection["per_experience"], "experience"),
                ),
            ],
        )
    )
    roc = detection.get("roc")
    if roc:
        figure = go.Figure(
            go.Scatter(
                x=roc["fpr"], y=roc["tpr"], mode="lines+markers", line_color=REAL_COLOUR
            )
        )
        figure.add_shape(
            type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dash", "color": "#999"}
        )
        figure.update_xaxes(
            title="1 - specificity (real called synthetic)", range=[0, 1]
        )
        figure.update_yaxes(
            title="sensitivity (synthetic called synthetic)", range=[0, 1]
        )
        sections.append(
            Section(
                "roc",
                f"ROC curve of the signed confidence (AUC {num(pooled.get('auc'))})",
                chart=_figure_html(figure, height=400),
                tables=[
                    (
                        "Operating points",
                        Table(
                            ["1 - specificity", "sensitivity"],
                            [
                                [num(f), num(t)]
                                for f, t in zip(roc["fpr"], roc["tpr"], strict=True)
                            ],
                        ),
                    )
                ],
            )
        )
    calibration = detection.get("calibration")
    if calibration:
        figure = go.Figure(
            go.Scatter(
                x=[row["confidence"] for row in calibration],
                y=[row["accuracy"] for row in calibration],
                error_y=_error_bars(calibration, "accuracy", "wilson_ci"),
                mode="lines+markers",
                line_color=REAL_COLOUR,
            )
        )
        figure.add_hline(y=0.5, line_dash="dash", line_color="#666")
        figure.update_xaxes(title="confidence", dtick=1)
        figure.update_yaxes(range=[0, 1], tickformat=".0%", title="accuracy")
        sections.append(
            Section(
                "calibration",
                "Calibration: accuracy at each confidence level (Wilson 95% CI)",
                chart=_figure_html(figure),
                tables=[
                    (
                        "Calibration",
                        Table(
                            [
                                "confidence",
                                "judgments",
                                "correct",
                                "accuracy",
                                "95% CI",
                            ],
                            [
                                [
                                    str(r["confidence"]),
                                    str(r["n"]),
                                    str(r["correct"]),
                                    pct(r["accuracy"]),
                                    ci(r["wilson_ci"]),
                                ]
                                for r in calibration
                            ],
                        ),
                    )
                ],
            )
        )
    return sections


def agreement_sections(agreement: dict) -> list[Section]:
    sections = []
    names = {"answer": "the real-or-synthetic answer", "diagnosis": "the diagnosis"}
    for column, block in agreement.items():
        between = block.get("between_readers")
        within = block.get("within_readers")
        tables = []
        chart = ""
        if between:
            tables.append(
                (
                    "Between readers (first readings)",
                    Table(
                        ["statistic", "value", "cases"],
                        [
                            [
                                "Fleiss' kappa",
                                num(between["fleiss_kappa"]),
                                f"{between['n_complete_cases']} read by every reader",
                            ],
                            [
                                "Krippendorff's alpha (nominal)",
                                num(between["krippendorff_alpha"]),
                                str(between["n_cases"]),
                            ],
                            [
                                "Gwet's AC1",
                                num(between["gwet_ac1"]),
                                str(between["n_cases"]),
                            ],
                        ],
                    ),
                )
            )
            readers = between["readers"]
            if len(readers) >= 2:
                index = {r: i for i, r in enumerate(readers)}
                z = [
                    [1.0 if i == j else None for j in range(len(readers))]
                    for i in range(len(readers))
                ]
                for pair in between["pairwise_cohen"]:
                    i, j = index[pair["a"]], index[pair["b"]]
                    z[i][j] = z[j][i] = pair["kappa"]
                figure = go.Figure(
                    go.Heatmap(
                        z=z,
                        x=readers,
                        y=readers,
                        zmin=-1,
                        zmax=1,
                        colorscale="RdBu",
                        hovertemplate="%{y} vs %{x}: kappa %{z:.2f}<extra></extra>",
                    )
                )
                figure.update_yaxes(autorange="reversed")
                chart = _figure_html(figure, height=max(320, 28 * len(readers) + 120))
                tables.append(
                    (
                        "Pairwise Cohen's kappa",
                        Table(
                            ["reader", "reader", "cases", "agreement", "kappa"],
                            [
                                [
                                    p["a"],
                                    p["b"],
                                    str(p["n"]),
                                    pct(p["agreement"]),
                                    num(p["kappa"]),
                                ]
                                for p in between["pairwise_cohen"]
                            ],
                        ),
                    )
                )
        if within:
            tables.append(
                (
                    "Within readers (cases shown twice)",
                    Table(
                        ["reader", "repeated cases", "same answer", "Cohen's kappa"],
                        [
                            [
                                r["reader"],
                                str(r["n"]),
                                pct(r["agreement"]),
                                num(r["kappa"]),
                            ]
                            for r in within["per_reader"]
                        ]
                        + [
                            [
                                "all readers",
                                str(within["pooled"]["n"]),
                                pct(within["pooled"]["agreement"]),
                                num(within["pooled"]["kappa"]),
                            ]
                        ],
                    ),
                )
            )
        if tables:
            sections.append(
                Section(
                    f"agreement-{column}",
                    f"Agreement on {names[column]}",
                    chart=chart,
                    tables=tables,
                    note="A dash marks a statistic that is undefined here (too few "
                    "ratings, or every rating in one category).",
                )
            )
    return sections


def diagnosis_sections(diagnosis: dict | None) -> list[Section]:
    if not diagnosis:
        return []
    labels = diagnosis["per_label"]
    figure = go.Figure()
    for origin, colour in (("real", REAL_COLOUR), ("synthetic", SYNTHETIC_COLOUR)):
        rows = [label[origin] for label in labels]
        figure.add_bar(
            name=origin,
            x=[label["label"] for label in labels],
            y=[row["rate"] or 0 for row in rows],
            error_y=_error_bars(rows, "rate", "wilson_ci"),
            marker_color=colour,
        )
    figure.update_layout(
        barmode="group", legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"}
    )
    figure.update_yaxes(range=[0, 1], tickformat=".0%", title="read as its label")
    rows = [
        [
            "all",
            "",
            rate(diagnosis["real"]),
            rate(diagnosis["synthetic"]),
            pct(diagnosis["difference"]["estimate"]),
            ci(diagnosis["difference"]["bootstrap_ci"]),
        ]
    ]
    for label in labels:
        rows.append(
            [
                label["label"],
                label["expected_code"],
                rate(label["real"]),
                rate(label["synthetic"]),
                pct(label["difference"]["estimate"]),
                ci(label["difference"]["bootstrap_ci"]),
            ]
        )
    note = (
        "A diagnosis counts as right when it names the case's rhythm (or 'other' for "
        "a rhythm no option names). Difference: real minus synthetic, 95% two-way "
        "bootstrap interval over readers and cases."
    )
    if diagnosis["n_unscorable"]:
        note += f" {diagnosis['n_unscorable']} judgments could not be scored."
    return [
        Section(
            "diagnosis",
            "Diagnosis: read as its label, real vs synthetic",
            chart=_figure_html(figure),
            tables=[
                (
                    "Agreement with the label",
                    Table(
                        [
                            "label",
                            "right answer",
                            "real",
                            "synthetic",
                            "difference",
                            "95% CI",
                        ],
                        rows,
                    ),
                )
            ],
            note=note,
        )
    ]


def _exact_cell(block: dict | None) -> str:
    """A proportion with its counts and exact interval: "25.0% (3/12; 5.5% to
    57.2%)"."""
    if not block or not block["n"]:
        return "-"
    return (
        f"{pct(block['rate'])} ({block['count']}/{block['n']}; {ci(block['exact_ci'])})"
    )


def _difference_cells(block: dict | None) -> list[str]:
    if not block:
        return ["-", "-"]
    return [pct(block["estimate"]), ci(block["bootstrap_ci"])]


def arms_sections(arms: dict | None) -> list[Section]:
    if not arms:
        return []
    rows = arms["per_arm"]
    figure = go.Figure()
    for name, key in (
        ("called synthetic", "called_synthetic"),
        ("diagnosis agrees with label", "diagnosis"),
    ):
        blocks = [row[key] or {} for row in rows]
        if not any(blocks):
            continue
        figure.add_bar(
            name=name,
            x=[row["arm"] for row in rows],
            y=[block.get("rate") or 0 for block in blocks],
            error_y=_error_bars(blocks, "rate", "exact_ci"),
            marker_color=SYNTHETIC_COLOUR if key == "called_synthetic" else REAL_COLOUR,
        )
    figure.update_layout(
        barmode="group", legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"}
    )
    figure.update_yaxes(range=[0, 1], tickformat=".0%")
    per_arm = Table(
        [
            "arm",
            "origin",
            "cases",
            "called synthetic",
            "called by its origin",
            "diagnosis agrees with label",
        ],
        [
            [
                row["arm"],
                row["origin"],
                str(row["cases"]),
                _exact_cell(row["called_synthetic"]),
                _exact_cell(row["called_correctly"]),
                _exact_cell(row["diagnosis"]),
            ]
            for row in rows
        ],
        css_class="arms-table",
    )
    pairwise = Table(
        [
            "arm",
            "minus arm",
            "called synthetic",
            "95% CI",
            "diagnosis agrees",
            "95% CI",
        ],
        [
            [
                row["first"],
                row["second"],
                *_difference_cells(row["called_synthetic"]),
                *_difference_cells(row["diagnosis"]),
            ]
            for row in arms["pairwise"]
        ],
        css_class="arms-pairwise",
    )
    return [
        Section(
            "arms",
            "Arms: real ECGs and each generator",
            chart=_figure_html(figure),
            tables=[("Per arm", per_arm), ("Differences between arms", pairwise)],
            note="First readings; each share with its counts and exact "
            "(Clopper-Pearson) 95% interval. A generator that readers cannot tell "
            "from real ECGs is called synthetic as often as the real arm is. "
            "Differences: "
            "first arm minus second, 95% two-way bootstrap interval over readers "
            "and cases.",
        )
    ]


def _mrmc_tables(block: dict, name: str, fmt) -> list[tuple[str, Table]]:
    if "per_arm" not in block:
        return []
    tables = [
        (
            f"{name} per arm",
            Table(
                ["arm", "estimate", "95% CI", "df", "cases", "readers"],
                [
                    [
                        row["arm"],
                        fmt(row["estimate"]),
                        ci(row["ci"], fmt),
                        num(row["df"], 1),
                        str(row["n_cases"]),
                        str(block["n_readers"]),
                    ]
                    for row in block["per_arm"]
                ],
                css_class="mrmc-per-arm",
            ),
        )
    ]
    if len(block["per_arm"]) < 2:
        return tables
    tables.append(
        (
            f"{name}: test of equal arms (RRRC)",
            Table(
                ["F", "df", "p", "readers", "cases"],
                [
                    [
                        num(block["f_statistic"]),
                        f"{block['df_numerator']}, {num(block['df_denominator'], 2)}",
                        p_value(block["p_value"]),
                        str(block["n_readers"]),
                        str(block["n_cases"]),
                    ]
                ],
                css_class="mrmc-test",
            ),
        )
    )
    tables.append(
        (
            f"{name}: differences between arms",
            Table(
                ["arm", "minus arm", "difference", "95% CI", "p"],
                [
                    [
                        row["first"],
                        row["second"],
                        fmt(row["estimate"]),
                        ci(row["ci"], fmt),
                        p_value(row["p_value"]),
                    ]
                    for row in block["differences"]
                ],
                css_class="mrmc-differences",
            ),
        )
    )
    return tables


def mrmc_sections(mrmc: dict | None) -> list[Section]:
    if not mrmc:
        return []
    tables, notes = [], []
    for key, name, fmt in (
        ("auc", "AUC of the confidence-rated answer", num),
        ("diagnosis", "Diagnosis accuracy", pct),
    ):
        block = mrmc.get(key)
        if not block:
            continue
        tables += _mrmc_tables(block, name, fmt)
        if block.get("note"):
            notes.append(f"{name}: {block['note']}.")
        for arm in block.get("arms_left_out", []):
            notes.append(f"{name}: {arm['arm']} left out ({arm['reason']}).")
        if block.get("cases_left_out"):
            notes.append(
                f"{name}: {block['cases_left_out']} case(s) not yet read by every "
                "reader left out."
            )
    auc = mrmc.get("auc") or {}
    rating = auc.get("rating", "signed confidence")
    return [
        Section(
            "mrmc",
            "MRMC analysis: Obuchowski-Rockette with Hillis' df",
            tables=tables,
            note=" ".join(
                [
                    "Random readers and random cases; jackknife covariances over "
                    "the union of cases. AUC: each generator's cases against the "
                    f"real cases every arm shares, rated by the {rating} "
                    "(synthetic positive). Diagnosis accuracy: the proportion of "
                    "correct diagnoses on each arm's own cases, real arms "
                    "included. Intervals use Hillis' degrees of freedom, which are "
                    "small with few readers: they are shown as computed, and may "
                    "then reach past 0 or 1.",
                    *notes,
                ]
            ),
        )
    ]


def quality_sections(quality: dict | None) -> list[Section]:
    if not quality:
        return []
    figure = go.Figure()
    for level, colour in QUALITY_COLOURS.items():
        figure.add_bar(
            name=level,
            x=["real", "synthetic"],
            y=[quality[o]["share"][level] or 0 for o in ("real", "synthetic")],
            marker_color=colour,
        )
    figure.update_layout(
        barmode="stack", legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"}
    )
    figure.update_yaxes(range=[0, 1], tickformat=".0%")
    return [
        Section(
            "quality",
            "Signal quality by origin",
            chart=_figure_html(figure, height=320),
            tables=[
                (
                    "Quality ratings",
                    Table(
                        ["origin", "judgments", *QUALITY_COLOURS],
                        [
                            [o, str(quality[o]["n"])]
                            + [
                                rate(
                                    {
                                        "rate": quality[o]["share"][k],
                                        "correct": quality[o]["counts"][k],
                                        "n": quality[o]["n"],
                                    }
                                )
                                for k in QUALITY_COLOURS
                            ]
                            for o in ("real", "synthetic")
                        ],
                    ),
                )
            ],
        )
    ]


def time_sections(time: dict) -> list[Section]:
    figure = go.Figure()
    for origin, colour in (("real", REAL_COLOUR), ("synthetic", SYNTHETIC_COLOUR)):
        figure.add_box(
            y=time[origin]["seconds"],
            name=origin,
            marker_color=colour,
            boxpoints="outliers",
        )
    figure.update_yaxes(title="seconds on the case", rangemode="tozero")
    figure.update_layout(showlegend=False)
    return [
        Section(
            "time",
            "Time per case by origin",
            chart=_figure_html(figure, height=320),
            tables=[
                (
                    "Seconds from serving the case to the answer",
                    Table(
                        ["origin", "judgments", "median", "interquartile range"],
                        [
                            [
                                o,
                                str(time[o]["n"]),
                                num(time[o]["median"], 1),
                                f"{num(time[o]['q1'], 1)} to {num(time[o]['q3'], 1)}",
                            ]
                            for o in ("real", "synthetic")
                        ],
                    ),
                )
            ],
        )
    ]


def progress_sections(progress: dict) -> list[Section]:
    title = f"Progress: {progress['answered']} of {progress['total']} answers"
    skipped = progress.get("skipped", 0)
    if skipped:
        title += f" ({skipped} skipped: ECG files missing)"
    return [
        Section(
            "progress",
            title,
            tables=[
                (
                    "Per reader",
                    Table(
                        ["reader", "site", "experience", "answered", "assigned"]
                        + (["skipped"] if skipped else []),
                        [
                            [
                                r["reader"],
                                r["site"] or "-",
                                r["experience"] or "-",
                                str(r["answered"]),
                                str(r["total"]),
                            ]
                            + ([str(r.get("skipped", 0))] if skipped else [])
                            for r in progress["per_reader"]
                        ],
                    ),
                )
            ],
        )
    ]


def _source(row: dict) -> str:
    """Where a case's ECG came from: dataset/source id, and for a synthetic one
    the generation job, its index, seed, sampler and steps and the checkpoint."""
    source = f"{row.get('dataset', '-')}/{row.get('source_id', '-')}"
    if row.get("synthetic_source"):
        source += f" ({row['synthetic_source']})"
    if row.get("generation_job") is None:
        return source
    return (
        f"{source}; job {row['generation_job']} #{row['generation_index']}, "
        f"seed {row['generation_seed']}, {row['sampler']} {row['steps']} steps, "
        f"checkpoint {str(row['checkpoint_sha256'])[:12]}"
    )


def _comments(row: dict) -> str:
    return " · ".join(
        f"{c['reader']}{' (repeat)' if c['round'] != 1 else ''}: {c['text']}"
        for c in row["comments"]
    )


def cases_sections(cases: list[dict] | None) -> list[Section]:
    if not cases:
        return []
    return [
        Section(
            "cases",
            "Per case: which ECGs fooled readers",
            tables=[
                (
                    "Synthetic cases the fewest readers called synthetic first, "
                    "then real cases the most readers called synthetic; click a "
                    "heading to sort",
                    Table(
                        [
                            "case",
                            "record",
                            "origin",
                            "arm",
                            "rhythm",
                            "labels",
                            "readers",
                            "called synthetic",
                            "detection rate",
                            "mean confidence",
                            "diagnosis agrees with label",
                            "source",
                            "comments",
                        ],
                        [
                            [
                                row["case"],
                                str(row.get("record_id", "-")),
                                row["origin"],
                                row.get("arm") or row["origin"],
                                row["rhythm"],
                                row.get("labels") or "-",
                                str(row["readers"]),
                                f"{row['called_synthetic']}/{row['answered']}",
                                pct(row["detection_rate"]),
                                num(row["mean_confidence"], 1),
                                (
                                    f"{pct(row['diagnosis_agreement'])} "
                                    f"({row['diagnosed']})"
                                    if row["diagnosis_agreement"] is not None
                                    else "-"
                                ),
                                _source(row),
                                _comments(row) or "-",
                            ]
                            for row in cases
                        ],
                        css_class="sortable wrap case-table",
                    ),
                )
            ],
            note="Detection rate: the share of readers who called the case "
            "synthetic on their first reading. Diagnosis agreement: the share "
            "whose diagnosis includes the code of the case's rhythm label. "
            "Comments are from every reading.",
        )
    ]


def report_sections(report: dict) -> list[Section]:
    """Every section of the report, in reading order."""
    from ecgstudy.analysis.design_charts import design_sections

    return [
        *progress_sections(report["progress"]),
        *detection_sections(report["detection"]),
        *agreement_sections(report["agreement"]),
        *diagnosis_sections(report["diagnosis"]),
        *design_sections(report.get("design")),
        *arms_sections(report.get("arms")),
        *mrmc_sections(report.get("mrmc")),
        *quality_sections(report["quality"]),
        *time_sections(report["time"]),
        *cases_sections(report.get("cases")),
    ]
