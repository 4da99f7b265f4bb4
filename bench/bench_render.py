"""Time render_sheet per 12-lead sheet at 100, 250 and 500 Hz on one core."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from ecgstudy.pool.render import LEADS, render_sheet

REPO_ROOT = Path(__file__).resolve().parents[1]


def ecg_data_dir() -> Path:
    path = Path(os.environ.get("ECG_DATA_DIR", "../shared/ecg"))
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


def synthetic_ecg(fs: int, seed: int) -> np.ndarray:
    """(12, 10 fs) float32 mV of Gaussian P-QRS-T beats, for when no real data exist."""
    rng = np.random.default_rng(seed)
    t = np.arange(10 * fs) / fs
    base = np.zeros_like(t)
    for beat in np.arange(0.3, 10.0, 60.0 / rng.uniform(55, 110)):
        for offset, width, amplitude in [
            (-0.16, 0.025, 0.15),
            (-0.03, 0.010, -0.15),
            (0.0, 0.012, 1.2),
            (0.03, 0.010, -0.3),
            (0.25, 0.045, 0.3),
        ]:
            base += amplitude * np.exp(-0.5 * ((t - beat - offset) / width) ** 2)
    scales = rng.uniform(-1.5, 1.5, size=(len(LEADS), 1))
    noise = 0.01 * rng.standard_normal((len(LEADS), t.size))
    return (scales * base + noise).astype(np.float32)


def load_signals(fs: int, n_records: int) -> tuple[list[np.ndarray], str]:
    """Canonical LUDB records at ``fs``, or synthetic ones if the data are absent."""
    records = sorted(
        (ecg_data_dir() / "ludb" / "records").glob("*.hea"),
        key=lambda header: int(header.stem) if header.stem.isdigit() else 0,
    )
    if not records:
        return [synthetic_ecg(fs, seed) for seed in range(n_records)], "synthetic"
    from generator.ecg import EcgError, load_canonical  # only the bench reads files

    signals = []
    for header in records:
        try:
            signals.append(load_canonical(header.with_suffix(""), target_fs=fs))
        except EcgError:
            continue
        if len(signals) == n_records:
            break
    return signals, f"LUDB x{len(signals)}"


def time_sheets(
    signals: list[np.ndarray], fs: int, repeats: int
) -> tuple[list[float], int]:
    """Per-sheet render times in ms over ``repeats`` passes, and the mean SVG size."""
    for signal in signals:  # warm the layout caches and the allocator
        render_sheet(signal, fs)
    times = []
    for _ in range(repeats):
        for signal in signals:
            start = time.perf_counter()
            render_sheet(signal, fs)
            times.append((time.perf_counter() - start) * 1000)
    size = round(np.mean([len(render_sheet(signal, fs)) for signal in signals]))
    return times, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20, help="records per rate")
    parser.add_argument("--repeats", type=int, default=25, help="passes over them")
    parser.add_argument("--rates", type=int, nargs="+", default=[100, 250, 500])
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        # One core, as the brief for a web worker assumes; formatting is serial anyway.
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    print(
        f"{'rate':>6} {'source':>12} {'sheets':>7} {'median ms':>10} {'p95 ms':>8}"
        f"  {'svg kB':>6}"
    )
    for fs in args.rates:
        signals, source = load_signals(fs, args.records)
        times, size = time_sheets(signals, fs, args.repeats)
        median = statistics.median(times)
        p95 = float(np.percentile(times, 95))
        print(
            f"{fs:>4}Hz {source:>12} {len(times):>7} {median:>10.2f} {p95:>8.2f}"
            f"  {size / 1000:>6.0f}"
        )


if __name__ == "__main__":
    main()
