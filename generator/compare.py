"""Several sets of ECGs side by side against one real split: the ceiling of real
unseen ECGs, another group's published samples, and checkpoints.

    .venv/bin/python -m generator.compare --data ../shared/ecg --split test \\
        --source "SSSD-ECG=../shared/anchors/sssd-ecg/samples_synthetic_22.npy" \\
        --source-leads "I,II,V1,V2,V3,V4,V5,V6,III,aVR,aVL,aVF" \\
        --checkpoint fixtures/demo-checkpoint.pt [--n-per-label 50] [--out x.json]

For each set, the figures that need no rhythm label: the per-lead ratio of the
median RMS to the real one, the share of near-flat ECGs, the distance of the
average spectra (0.5-40 Hz and 0.5-35 Hz), and the cross-validated AUC of a
classifier telling the set from the real split (0.5 is ideal). The real ``val``
split is always one column: the figures real ECGs reach against each other.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from generator.datasets import (
    DatasetError,
    SourceRecord,
    apply_labels,
    read_labels_csv,
)
from generator.ecg import CANONICAL_FS, LEADS, EcgError, canonicalize
from generator.evaluate import (
    EcgSet,
    amplitude_report,
    checkpoint_synthesizer,
    describe_axis,
    feature_table,
    load_split,
    parse_label_sets,
    spectrum_distance,
    synthetic_set,
    two_sample_auc,
)


def load_array_set(
    path: str | Path,
    *,
    leads: Sequence[str] = LEADS,
    fs: float = CANONICAL_FS,
    name: str = "array",
    labels_csv: str | Path | None = None,
) -> EcgSet:
    """ECGs from a ``.npy`` (n, 12, L) or ``.npz`` (its ``signals`` array) in
    millivolts, leads in ``leads`` order at ``fs`` Hz, put into canonical form.

    ``labels_csv`` gives each ECG its rhythm (and NORM): a row per ECG with
    ``record`` (its 0-based index), ``rhythm`` and optionally ``normal``, as
    ``manage.py import_synthetic`` reads it. Without it every rhythm is "other".

    Raises ValueError naming what is wrong: a missing file, another shape, a lead
    list that is not the 12 standard leads, a rate or length the canonical form
    cannot use, an ECG without a rhythm in the labels CSV.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    loaded = np.load(path)
    if isinstance(loaded, np.lib.npyio.NpzFile):
        if "signals" not in loaded:
            raise ValueError(f"{path}: an .npz needs a 'signals' array")
        loaded = loaded["signals"]
    array = np.asarray(loaded, dtype=np.float64)
    if array.ndim != 3 or array.shape[1] != 12:
        raise ValueError(f"{path}: expected (n, 12, samples), got {array.shape}")
    if sorted(leads) != sorted(LEADS) or len(leads) != 12:
        raise ValueError(
            f"lead order must name the 12 standard leads once each, got {list(leads)}"
        )
    order = [list(leads).index(lead) for lead in LEADS]
    signals = []
    for i, ecg in enumerate(array[:, order]):
        try:
            signals.append(canonicalize(ecg, fs, record=f"{path.name}[{i}]"))
        except EcgError as exc:
            raise ValueError(str(exc)) from exc
    n = len(signals)
    rhythms, normal = ["other"] * n, [None] * n
    if labels_csv is not None:
        rhythms, normal = _array_labels(Path(labels_csv), n)
    return EcgSet(np.stack(signals), rhythms, normal, [f"{name}-{i}" for i in range(n)])


def _array_labels(path: Path, n: int) -> tuple[list[str], list[bool | None]]:
    """(rhythm, normal) of ECGs 0..n-1 from a labels CSV keyed by index, read as
    the import reads it (``rhythm``, or the rhythm its ``labels`` name)."""
    try:
        rows = read_labels_csv(path)
    except DatasetError as exc:
        raise ValueError(str(exc)) from None
    missing = [i for i in range(n) if str(i) not in rows]
    if missing:
        shown = ", ".join(map(str, missing[:5]))
        raise ValueError(
            f"{path}: no row for {len(missing)} of the {n} ECGs (indices {shown}"
            f"{', ...' if len(missing) > 5 else ''}); give each ECG a row with "
            "record (its 0-based index) and rhythm or labels"
        )
    extra = sorted(set(rows) - {str(i) for i in range(n)})
    if extra:
        raise ValueError(f"{path}: rows for ECGs the array does not hold: {extra[:5]}")
    blank = SourceRecord(Path(), "", path.name, (), "other", None)
    labelled = [
        apply_labels(replace(blank, record_id=str(i)), rows[str(i)]) for i in range(n)
    ]
    return [r.rhythm for r in labelled], [r.normal for r in labelled]


def compare(real: EcgSet, sets: dict[str, EcgSet], *, seed: int = 0) -> dict:
    """The label-free figures of each set against ``real``."""
    real_features = feature_table(real)
    real_change = real_features.median("qrs_beat_variation")
    table = {}
    for name, ecgs in sets.items():
        features = feature_table(ecgs)
        auc = two_sample_auc(real_features, features, seed=seed)
        spectrum = spectrum_distance(real.signals, ecgs.signals, CANONICAL_FS)
        table[name] = {
            "n": len(ecgs),
            "two_sample_auc": auc.get("auc"),
            "qrs_beat_variation": features.median("qrs_beat_variation"),
            "qrs_beat_variation_real": real_change,
            "spectrum_distance": spectrum["mean"],
            "spectrum_distance_below_display": spectrum["mean_below_display"],
            **amplitude_report(real.signals, ecgs.signals),
        }
    return table


def _row(label: str, values: list) -> str:
    return f"{label:<34}" + "".join(f"{value:>20}" for value in values)


def format_table(table: dict) -> str:
    names = list(table)
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [_row("", names), _row("ECGs", [table[n]["n"] for n in names])]
    for key, label in (
        ("two_sample_auc", "two-sample AUC (0.5 ideal)"),
        ("spectrum_distance", "spectrum distance 0.5-40 Hz"),
        ("spectrum_distance_below_display", "spectrum distance 0.5-35 Hz"),
        ("near_flat_synthetic", "near-flat share"),
    ):
        lines.append(_row(label, [fmt(table[n][key]) for n in names]))
    for lead in LEADS:
        cells = [
            f"{table[n]['rms_ratio'][lead]:.2f} [{low:.2f}-{high:.2f}]"
            for n in names
            for low, high in [table[n]["rms_ratio_ci"][lead]]
        ]
        lines.append(_row(f"RMS ratio {lead} [95% CI]", cells))
    real_axis = describe_axis(table[names[0]]["frontal_correlation_real"])
    axis = [describe_axis(table[n]["frontal_correlation_synthetic"]) for n in names]
    lines.append(_row(f"corr(I, aVF), real {real_axis}", axis))
    real_change = fmt(table[names[0]]["qrs_beat_variation_real"])
    change = [fmt(table[n]["qrs_beat_variation"]) for n in names]
    lines.append(_row(f"QRS change beat to beat, real {real_change}", change))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test", choices=["test", "val"])
    parser.add_argument(
        "--source", action="append", default=[], help="NAME=PATH of an array file"
    )
    parser.add_argument(
        "--source-leads",
        default=",".join(LEADS),
        help="lead order of the array files, comma-separated",
    )
    parser.add_argument("--source-fs", type=float, default=CANONICAL_FS)
    parser.add_argument("--checkpoint", type=Path, action="append", default=[])
    parser.add_argument("--labels", default="SR+NORM,SR,AF")
    parser.add_argument("--n-per-label", type=int, default=50)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    real = load_split(args.data, args.split)
    sets = {} if args.split == "val" else {"real val": load_split(args.data, "val")}
    leads = [lead.strip() for lead in args.source_leads.split(",")]
    for source in args.source:
        name, _, path = source.partition("=")
        if not path:
            parser.error(f"--source takes NAME=PATH, got {source!r}")
        try:
            sets[name] = load_array_set(path, leads=leads, fs=args.source_fs, name=name)
        except ValueError as exc:
            parser.error(str(exc))
    for checkpoint in args.checkpoint:
        synthesize = checkpoint_synthesizer(checkpoint, steps=args.steps)
        sets[checkpoint.name] = synthetic_set(
            synthesize, parse_label_sets(args.labels), args.n_per_label, args.seed
        )
    table = compare(real, sets, seed=args.seed)
    print(f"against {len(real)} real {args.split} ECGs")
    print(format_table(table))
    if args.out:
        args.out.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
