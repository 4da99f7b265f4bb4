"""Tests of the 12-lead sheet renderer: layout, scale, blinding and bad input."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from ecgstudy.pool.render import (
    LAYOUT_ROWS,
    LEADS,
    SHEET_LAYOUT,
    SIGNAL_LIMIT_MV,
    render_sheet,
    sheet_geometry,
    sheet_size_mm,
)

SVG = "{http://www.w3.org/2000/svg}"
REPO_ROOT = Path(__file__).resolve().parents[2]
POINT = re.compile(r"(\d+\.\d\d),(\d+\.\d\d)")


def ecg_data_dir() -> Path:
    path = Path(os.environ.get("ECG_DATA_DIR", "../shared/ecg"))
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


def synthetic_ecg(
    fs: float = 100.0, seconds: float = 10.0, heart_rate: float = 72.0, seed: int = 0
) -> np.ndarray:
    """(12, L) float32 mV: P, QRS and T waves as Gaussians, a different mix per lead."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * fs)) / fs
    beats = np.arange(0.3, seconds, 60.0 / heart_rate)
    # (offset s, width s, amplitude mV) of P, Q, R, S, T relative to the R peak
    waves = [
        (-0.16, 0.025, 0.15),
        (-0.03, 0.010, -0.15),
        (0.0, 0.012, 1.2),
        (0.03, 0.010, -0.3),
        (0.25, 0.045, 0.3),
    ]
    base = np.zeros_like(t)
    for beat in beats:
        for offset, width, amplitude in waves:
            base += amplitude * np.exp(-0.5 * ((t - beat - offset) / width) ** 2)
    scales = rng.uniform(-1.5, 1.5, size=(len(LEADS), 1))
    noise = 0.01 * rng.standard_normal((len(LEADS), t.size))
    return (scales * base + noise).astype(np.float32)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def group(root: ET.Element, class_name: str) -> ET.Element:
    (found,) = [el for el in root.iter() if el.get("class") == class_name]
    return found


def trace_paths(root: ET.Element) -> list[ET.Element]:
    return group(root, "ecg-traces").findall(f"{SVG}path")


def points(path: ET.Element) -> np.ndarray:
    """(N, 2) x, y in mm of a polyline path."""
    return np.array(POINT.findall(path.get("d")), dtype=float)


def structure(element: ET.Element) -> list[tuple]:
    """Tags, attribute names and every attribute value except the trace ``d``."""
    rows = []
    for el in element.iter():
        attributes = tuple(
            sorted(
                (name, "<d>" if name == "d" else value)
                for name, value in el.attrib.items()
            )
        )
        rows.append((el.tag, attributes, (el.text or "").strip()))
    return rows


def trace_index(lead: str) -> int:
    """Position of a lead's segment among the 13 trace paths (the rhythm strip last)."""
    order = [name for row in LAYOUT_ROWS for name in row]
    return order.index(lead)


def test_lead_order_and_signal_limit_match_the_generator():
    from generator.ecg import CLIP_MV
    from generator.ecg import LEADS as GENERATOR_LEADS

    assert LEADS == GENERATOR_LEADS
    assert SIGNAL_LIMIT_MV == CLIP_MV


def test_renderer_imports_neither_django_nor_scipy():
    # Load the file on its own: the package __init__ may start Celery, render may not.
    path = REPO_ROOT / "ecgstudy" / "pool" / "render.py"
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('alone', {str(path)!r})\n"
        "module = sys.modules['alone'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "heavy = ('django', 'scipy', 'generator', 'ecgstudy', 'celery')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("make_signal", "fs", "message"),
    [
        (lambda: np.zeros(1000), 100, r"shape \(12, L\)"),
        (lambda: np.zeros((11, 1000)), 100, r"shape \(12, L\)"),
        (lambda: np.zeros((1000, 12)), 100, r"shape \(12, L\)"),
        (lambda: np.zeros((12, 1000, 1)), 100, r"shape \(12, L\)"),
        (lambda: np.full((12, 1000), "a"), 100, "numeric"),
        (lambda: np.zeros((12, 999)), 100, "too short"),
        (lambda: np.zeros((12, 4999)), 500, "too short"),
        (lambda: np.zeros((12, 1000)), 0, "fs must be positive"),
        (lambda: np.zeros((12, 1000)), -100, "fs must be positive"),
        (lambda: np.zeros((12, 1000)), float("nan"), "fs must be positive"),
        (lambda: np.zeros((12, 1000)), float("inf"), "fs must be positive"),
        (lambda: np.zeros((12, 1000)), "fast", "fs must be a positive number"),
        (lambda: np.zeros((12, 10)), 0.5, "fs must be at least 1 Hz"),
    ],
)
def test_bad_signal_or_rate_raises_value_error(make_signal, fs, message):
    with pytest.raises(ValueError, match=message):
        render_sheet(make_signal(), fs)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_sample_raises_value_error_naming_the_lead(bad):
    signal = synthetic_ecg()
    signal[LEADS.index("V3"), 500] = bad
    with pytest.raises(ValueError, match=r"non-finite .* lead\(s\) V3$"):
        render_sheet(signal, 100)


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("speed_mm_s", 0.0),
        ("speed_mm_s", -25.0),
        ("speed_mm_s", float("inf")),
        ("gain_mm_mv", 0.0),
        ("gain_mm_mv", -10.0),
        ("gain_mm_mv", float("nan")),
    ],
)
def test_non_positive_speed_or_gain_raises_value_error(keyword, value):
    with pytest.raises(ValueError, match=f"{keyword} must be positive"):
        render_sheet(synthetic_ecg(), 100, **{keyword: value})


def test_same_signal_gives_identical_bytes():
    signal = synthetic_ecg()
    first = render_sheet(signal, 100)
    assert render_sheet(signal.copy(), 100) == first
    assert render_sheet(signal.astype(np.float64), 100.0) == first


def test_output_is_svg_scaled_to_its_container_with_a_millimetre_viewbox():
    svg = render_sheet(synthetic_ecg(), 100)
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    width, height = sheet_size_mm()
    assert root.get("viewBox") == f"0 0 {width:.2f} {height:.2f}"
    assert root.get("width") == "100%"
    assert root.get("preserveAspectRatio") == "xMidYMid meet"
    assert (width, height) == (SHEET_LAYOUT.width_mm, SHEET_LAYOUT.height_mm)
    # 10 s at 25 mm/s plus the calibration area and margins; four 40-mm rows,
    # margins, and 25 mm above and below for 5 mV at 10 mm/mV
    assert width == pytest.approx(270.0) and height == pytest.approx(220.0)


@pytest.mark.parametrize("fs", [100, 250, 500])
def test_structure_is_the_same_for_every_signal(fs):
    quiet = np.zeros((12, 10 * fs), dtype=np.float32)
    ecg = synthetic_ecg(fs=fs, heart_rate=110, seed=1)
    wild = 40.0 * np.random.default_rng(2).standard_normal((12, 10 * fs))
    roots = [parse(render_sheet(signal, fs)) for signal in (quiet, ecg, wild)]
    assert structure(roots[0]) == structure(roots[1]) == structure(roots[2])
    # Only the 13 trace paths may differ; grid, calibration and ticks never do.
    static = [
        [p.get("d") for p in root.iter(f"{SVG}path") if p not in trace_paths(root)]
        for root in roots
    ]
    assert static[0] == static[1] == static[2]


@pytest.mark.parametrize(
    ("fs", "column", "strip"), [(100, 250, 1000), (500, 1250, 5000)]
)
def test_thirteen_trace_paths_one_per_segment_and_the_rhythm_strip(fs, column, strip):
    root = parse(render_sheet(synthetic_ecg(fs=fs), fs))
    paths = trace_paths(root)
    assert len(paths) == 13
    assert [len(points(p)) for p in paths] == [column] * 12 + [strip]
    assert all(len(p.attrib) == 1 for p in paths)  # nothing but d


@pytest.mark.parametrize("fs", [257, 360, 1000])
def test_columns_split_the_ten_seconds_without_gap_or_overlap_at_any_rate(fs):
    paths = trace_paths(parse(render_sheet(synthetic_ecg(fs=fs), fs)))
    strip = points(paths[-1])
    assert len(strip) == 10 * fs
    for row in range(3):
        row_x = np.concatenate([points(p)[:, 0] for p in paths[4 * row : 4 * row + 4]])
        assert np.array_equal(row_x, strip[:, 0])


def test_text_is_the_lead_labels_and_nothing_else():
    root = parse(render_sheet(synthetic_ecg(), 100))
    labels = [el.text for el in root.iter(f"{SVG}text")]
    assert labels == [lead for row in LAYOUT_ROWS for lead in row] + ["II"]
    assert set(labels) == set(LEADS)
    for el in root.iter():
        if el.tag != f"{SVG}text":
            assert not (el.text or "").strip()
        assert not (el.tail or "").strip()
        assert len(el) == 0 or el.tag in {f"{SVG}svg", f"{SVG}g"}


@pytest.mark.parametrize(
    "forbidden",
    [
        "id=",
        "<title",
        "<desc",
        "<!--",
        "<metadata",
        "<?xml",
        "<!DOCTYPE",
        "href",
        "data-",
        "<style",
        "<script",
        "-0.00",
    ],
)
def test_nothing_but_the_waveform_is_written(forbidden):
    svg = render_sheet(synthetic_ecg(), 100)
    assert forbidden.lower() not in svg.lower()


def test_no_negative_coordinate_even_for_extreme_amplitudes():
    signal = synthetic_ecg() * 50 - 20
    for path in parse(render_sheet(signal, 100)).iter(f"{SVG}path"):
        assert "-" not in path.get("d")


@pytest.mark.parametrize("gain", [10.0, 5.0, 20.0])
@pytest.mark.parametrize("fs", [100, 500])
def test_one_millivolt_step_moves_the_trace_by_the_gain(fs, gain):
    signal = np.zeros((12, 10 * fs), dtype=np.float32)
    signal[:, 5 * fs :] = 1.0  # a 1 mV step at t = 5 s in every lead
    signal[LEADS.index("V4"), 8 * fs :] = 1.0
    signal[LEADS.index("V4"), : 8 * fs] = 0.0  # V4 steps inside its column
    paths = trace_paths(parse(render_sheet(signal, fs, gain_mm_mv=gain)))

    strip = points(paths[-1])
    t = np.arange(10 * fs) / fs
    baseline = SHEET_LAYOUT.baselines_mm[-1]
    assert np.allclose(strip[t < 5, 1], baseline)
    assert np.allclose(strip[t >= 5, 1], baseline - gain)  # SVG y grows downwards

    v4 = points(paths[trace_index("V4")])
    v4_times = t[(t >= 7.5) & (t < 10)]
    assert np.allclose(v4[v4_times < 8, 1], SHEET_LAYOUT.baselines_mm[0])
    assert np.allclose(v4[v4_times >= 8, 1], SHEET_LAYOUT.baselines_mm[0] - gain)


@pytest.mark.parametrize(("fs", "speed"), [(100, 25.0), (250, 25.0), (500, 50.0)])
def test_time_axis_runs_at_the_paper_speed_with_columns_in_their_own_quarter(fs, speed):
    geometry = sheet_geometry(speed_mm_s=speed)
    paths = trace_paths(parse(render_sheet(synthetic_ecg(fs=fs), fs, speed_mm_s=speed)))
    strip = points(paths[-1])
    assert strip[0, 0] == pytest.approx(geometry.trace_x0_mm)
    assert np.allclose(np.diff(strip[:, 0]), speed / fs, atol=0.011)
    assert strip[-1, 0] == pytest.approx(
        geometry.trace_x0_mm + (10 - 1 / fs) * speed, abs=0.006
    )
    for row in LAYOUT_ROWS:
        for column, lead in enumerate(row):
            xs = points(paths[trace_index(lead)])[:, 0]
            start = geometry.trace_x0_mm + column * geometry.column_width_mm
            assert xs[0] == pytest.approx(start)
            assert xs[-1] < start + geometry.column_width_mm


def test_each_column_shows_its_own_time_segment_of_its_lead():
    fs = 100
    signal = np.zeros((12, 10 * fs), dtype=np.float32)
    t = np.arange(10 * fs) / fs
    for lead in range(12):
        signal[lead] = 0.05 * (lead + 1) * np.floor(t / 2.5)  # a staircase per lead
    paths = trace_paths(parse(render_sheet(signal, fs)))
    for row_index, row in enumerate(LAYOUT_ROWS):
        for column, lead in enumerate(row):
            ys = points(paths[trace_index(lead)])[:, 1]
            expected = 0.05 * (LEADS.index(lead) + 1) * column
            assert np.allclose(SHEET_LAYOUT.baselines_mm[row_index] - ys, 10 * expected)


ROWS_OF_TRACES = [0] * 4 + [1] * 4 + [2] * 4 + [3]


def test_every_amplitude_of_the_canonical_range_is_drawn_unclipped():
    signal = np.zeros((12, 1000), dtype=np.float32)
    # a 4 mV R wave and a -4.5 mV S wave in every column, the limit once each way
    signal[:, [50, 300, 550, 800]] = 4.0
    signal[:, [150, 400, 650, 900]] = -4.5
    signal[:, 10] = SIGNAL_LIMIT_MV
    signal[:, 20] = -SIGNAL_LIMIT_MV
    root = parse(render_sheet(signal, 100))
    for index, (path, row) in enumerate(
        zip(trace_paths(root), ROWS_OF_TRACES, strict=True)
    ):
        mv = (SHEET_LAYOUT.baselines_mm[row] - points(path)[:, 1]) / 10
        holds_the_limit = row == 3 or index % 4 == 0  # the first 2.5 s
        assert mv.max() == pytest.approx(SIGNAL_LIMIT_MV if holds_the_limit else 4.0)
        assert mv.min() == pytest.approx(-SIGNAL_LIMIT_MV if holds_the_limit else -4.5)
    rhythm = points(trace_paths(root)[-1])[:, 1]
    assert rhythm.min() >= 0 and rhythm.max() <= SHEET_LAYOUT.height_mm


def test_a_tall_real_r_wave_is_drawn_as_a_synthetic_one_of_the_same_height():
    """The drawing treats amplitude the same whatever made it: no flat tops."""
    real = synthetic_ecg(seed=3)
    real[9] *= 4.0 / np.abs(real[9]).max()  # V4 with a 4 mV R wave
    synthetic = real.copy()
    synthetic[9] += 0.001  # another ECG, the same height
    heights = []
    for signal in (real, synthetic):
        ys = points(trace_paths(parse(render_sheet(signal, 100)))[trace_index("V4")])
        top = ys[:, 1].min()
        heights.append(top)
        assert np.sum(np.isclose(ys[:, 1], top)) == 1  # a peak, not a plateau
    assert heights[0] == pytest.approx(heights[1], abs=0.02)


def test_two_sheets_have_the_same_length_in_bytes_whatever_they_show():
    rng = np.random.default_rng(5)
    sheets = [
        render_sheet(np.zeros((12, 1000), dtype=np.float32), 100),
        render_sheet(synthetic_ecg(seed=1), 100),
        render_sheet(synthetic_ecg(seed=2, heart_rate=140) * 3, 100),
        render_sheet(np.clip(rng.normal(0, 2, (12, 1000)), -5, 5), 100),
        render_sheet(np.full((12, 1000), 9.0), 100),  # beyond the limit
    ]
    assert len({len(sheet.encode()) for sheet in sheets}) == 1


def test_calibration_pulse_is_one_millivolt_by_200_ms_in_every_row():
    for speed, gain in [(25.0, 10.0), (50.0, 20.0)]:
        root = parse(
            render_sheet(synthetic_ecg(), 100, speed_mm_s=speed, gain_mm_mv=gain)
        )
        d = group(root, "ecg-calibration").get("d")
        pulses = re.findall(r"M([\d.]+),([\d.]+)H([\d.]+)V([\d.]+)H([\d.]+)V", d)
        assert len(pulses) == 4
        for (_, baseline, rise, top, fall), expected_baseline in zip(
            pulses, SHEET_LAYOUT.baselines_mm, strict=True
        ):
            assert float(baseline) == pytest.approx(expected_baseline)
            assert float(baseline) - float(top) == pytest.approx(gain)
            assert float(fall) - float(rise) == pytest.approx(0.2 * speed)


def test_separator_ticks_mark_the_column_boundaries_of_the_lead_rows():
    root = parse(render_sheet(synthetic_ecg(), 100))
    ticks = re.findall(r"M([\d.]+),", group(root, "ecg-separators").get("d"))
    boundaries = [SHEET_LAYOUT.trace_x0_mm + k * 62.5 for k in (1, 2, 3)]
    assert sorted(float(x) for x in ticks) == pytest.approx(sorted(boundaries * 3))


def test_only_the_first_ten_seconds_of_a_longer_signal_are_drawn():
    long_signal = synthetic_ecg(seconds=12.0)
    assert render_sheet(long_signal, 100) == render_sheet(long_signal[:, :1000], 100)


def test_sheet_size_follows_the_paper_speed_not_the_gain():
    width_25, height_25 = sheet_size_mm(25.0)
    width_50, height_50 = sheet_size_mm(50.0)
    assert height_50 == height_25
    assert width_50 - width_25 == pytest.approx(10 * 25 + 0.2 * 25)
    assert sheet_geometry(gain_mm_mv=20.0).height_mm == height_25
    with pytest.raises(ValueError, match="speed_mm_s must be positive"):
        sheet_size_mm(0.0)


@pytest.mark.data
def test_real_record_renders_with_the_same_structure_as_a_synthetic_one():
    record = ecg_data_dir() / "ludb" / "records" / "1"
    if not record.with_suffix(".hea").is_file():
        pytest.skip(f"real ECGs not found under {ecg_data_dir()} (set ECG_DATA_DIR)")
    from generator.ecg import load_canonical

    real = load_canonical(record)
    real_root = parse(render_sheet(real, 100))
    synthetic_root = parse(render_sheet(synthetic_ecg(), 100))
    assert structure(real_root) == structure(synthetic_root)
    assert len(trace_paths(real_root)) == 13
