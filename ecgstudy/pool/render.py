"""Draw a canonical 12-lead ECG as a standard printed sheet in SVG, blind to origin."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# The canonical lead order of generator.ecg.LEADS, repeated here so that the web
# process can render without importing the generator (and scipy); a test keeps
# the two in step.
LEADS: tuple[str, ...] = (
    "I",
    "II",
    "III",
    "aVR",
    "aVL",
    "aVF",
    "V1",
    "V2",
    "V3",
    "V4",
    "V5",
    "V6",
)

SPEED_MM_S = 25.0  # paper speed every physician reads at
GAIN_MM_MV = 10.0
DURATION_S = 10.0  # the rhythm strip; only the first 10 s of a longer signal are drawn
COLUMN_S = 2.5  # each of the four columns shows its own quarter of the 10 s
LAYOUT_ROWS: tuple[tuple[str, ...], ...] = (
    ("I", "aVR", "V1", "V4"),
    ("II", "aVL", "V2", "V5"),
    ("III", "aVF", "V3", "V6"),
)
RHYTHM_LEAD = "II"

MARGIN_MM = 5.0  # grid-covered border around the traces
ROW_PITCH_MM = 40.0  # fixed paper: a larger gain overlaps rows, as on a real printout
# The canonical form's limit (generator.ecg.CLIP_MV; a test keeps the two in step).
# The paper above the first row and below the rhythm strip leaves room for it, so
# the drawing clips no ECG: rows overlap their neighbours as on a printout, and a
# 4 mV R wave is drawn as 4 mV whatever its origin.
SIGNAL_LIMIT_MV = 5.0
CAL_MV = 1.0
CAL_S = 0.2
CAL_LEAD_IN_MM = 2.5  # flat baseline before and after the calibration step
CAL_TAIL_MM = 2.5
GRID_MINOR_MM = 1.0
GRID_MAJOR_MM = 5.0
TICK_HALF_MM = 2.0  # half-height of the separator tick between columns
LABEL_DX_MM = 1.0  # lead label offset from the start of its segment
LABEL_DY_MM = -12.0
LABEL_SIZE_MM = 3.5
MIN_FS_HZ = 1.0  # each 2.5-s column needs at least two samples to draw a line

PAPER_COLOUR = "#fff"
MINOR_COLOUR = "#f6c4c4"
MAJOR_COLOUR = "#e58a8a"
TRACE_COLOUR = "#000"
MINOR_WIDTH_MM = 0.1
MAJOR_WIDTH_MM = 0.2
TRACE_WIDTH_MM = 0.28

_SVG_NS = "http://www.w3.org/2000/svg"
_N_ROWS = len(LAYOUT_ROWS) + 1  # the three lead rows and the rhythm strip


@dataclass(frozen=True)
class SheetGeometry:
    """Where things sit on the sheet, in millimetres (SVG user units) from top left."""

    speed_mm_s: float
    gain_mm_mv: float
    width_mm: float
    height_mm: float
    trace_x0_mm: float  # x of t = 0 s in every row
    column_width_mm: float  # 2.5 s of trace
    baselines_mm: tuple[float, ...]  # y of 0 mV, one per row, rhythm strip last
    # How far a canonical trace (within +/- SIGNAL_LIMIT_MV) can stray from its
    # baseline; at the standard gain the paper above the first row and below the
    # last leaves that room.
    reach_mm: float


def _check_positive(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return value


def _paper_height_and_baselines() -> tuple[float, tuple[float, ...]]:
    """The paper's height and the rows' baselines; the gain does not change them.

    Above the first row and below the last, whole 5-mm squares of headroom (the
    grid stays aligned with the baselines) make room for SIGNAL_LIMIT_MV at the
    standard gain.
    """
    reach = SIGNAL_LIMIT_MV * GAIN_MM_MV
    headroom = GRID_MAJOR_MM * math.ceil(
        max(0.0, reach - ROW_PITCH_MM / 2 - MARGIN_MM) / GRID_MAJOR_MM
    )
    height = 2 * (MARGIN_MM + headroom) + _N_ROWS * ROW_PITCH_MM
    baselines = tuple(
        MARGIN_MM + headroom + (row + 0.5) * ROW_PITCH_MM for row in range(_N_ROWS)
    )
    return height, baselines


def sheet_geometry(
    *, speed_mm_s: float = SPEED_MM_S, gain_mm_mv: float = GAIN_MM_MV
) -> SheetGeometry:
    """The sheet's geometry for a paper speed and gain; raises ValueError if invalid."""
    speed_mm_s = _check_positive("speed_mm_s", speed_mm_s)
    gain_mm_mv = _check_positive("gain_mm_mv", gain_mm_mv)
    trace_x0 = MARGIN_MM + CAL_LEAD_IN_MM + CAL_S * speed_mm_s + CAL_TAIL_MM
    width = trace_x0 + DURATION_S * speed_mm_s + MARGIN_MM
    height, baselines = _paper_height_and_baselines()

    return SheetGeometry(
        speed_mm_s=speed_mm_s,
        gain_mm_mv=gain_mm_mv,
        width_mm=width,
        height_mm=height,
        trace_x0_mm=trace_x0,
        column_width_mm=COLUMN_S * speed_mm_s,
        baselines_mm=baselines,
        reach_mm=SIGNAL_LIMIT_MV * gain_mm_mv,
    )


def sheet_size_mm(speed_mm_s: float = SPEED_MM_S) -> tuple[float, float]:
    """(width, height) of the sheet in mm; the gain does not change the paper."""
    geometry = sheet_geometry(speed_mm_s=speed_mm_s)
    return geometry.width_mm, geometry.height_mm


SHEET_LAYOUT: SheetGeometry = sheet_geometry()


def _mm(value: float) -> str:
    """Two-decimal millimetres, for the frame; every coordinate on it is >= 0."""
    whole, hundredths = divmod(round(value * 100), 100)
    return f"{whole}.{hundredths:02d}"


def _grid_path(geometry: SheetGeometry, step: float, skip: float | None) -> str:
    """Vertical and horizontal lines every ``step`` mm, except those on ``skip``."""
    width, height = geometry.width_mm, geometry.height_mm
    parts = []
    for count in range(int(width / step + 1e-9) + 1):
        x = count * step
        if skip is None or abs(x / skip - round(x / skip)) > 1e-9:
            parts.append(f"M{_mm(x)},0V{_mm(height)}")
    for count in range(int(height / step + 1e-9) + 1):
        y = count * step
        if skip is None or abs(y / skip - round(y / skip)) > 1e-9:
            parts.append(f"M0,{_mm(y)}H{_mm(width)}")
    return "".join(parts)


def _calibration_x(geometry: SheetGeometry) -> tuple[float, float, float]:
    """x of the calibration step's start, rise and fall, in mm."""
    rise = MARGIN_MM + CAL_LEAD_IN_MM
    return MARGIN_MM, rise, rise + CAL_S * geometry.speed_mm_s


def viewer_geometry(geometry: SheetGeometry = SHEET_LAYOUT) -> dict:
    """What a viewer of the sheet needs to rescale the traces and time intervals:
    the same for every ECG, so it says nothing about any one of them."""
    start, rise, fall = _calibration_x(geometry)
    return {
        "speed_mm_s": geometry.speed_mm_s,
        "gain_mm_mv": geometry.gain_mm_mv,
        "baselines_mm": list(geometry.baselines_mm),
        # The row of each of the 13 trace paths, in drawing order (see _segments).
        "trace_rows": [row for row, leads in enumerate(LAYOUT_ROWS) for _ in leads]
        + [len(LAYOUT_ROWS)],
        "calibration": {
            "start_mm": start,
            "rise_mm": rise,
            "fall_mm": fall,
            "end_mm": geometry.trace_x0_mm,
            "mv": CAL_MV,
        },
    }


def _calibration_path(geometry: SheetGeometry) -> str:
    """A 1 mV x 200 ms rectangular step at the start of every row."""
    start, rise, fall = _calibration_x(geometry)
    top_offset = CAL_MV * geometry.gain_mm_mv
    parts = []
    for baseline in geometry.baselines_mm:
        top = max(baseline - top_offset, baseline - geometry.reach_mm, 0.0)
        parts.append(
            f"M{_mm(start)},{_mm(baseline)}H{_mm(rise)}V{_mm(top)}"
            f"H{_mm(fall)}V{_mm(baseline)}H{_mm(geometry.trace_x0_mm)}"
        )
    return "".join(parts)


def _separator_path(geometry: SheetGeometry) -> str:
    """Short vertical ticks where one column's leads give way to the next."""
    parts = []
    for baseline in geometry.baselines_mm[: len(LAYOUT_ROWS)]:
        for column in range(1, len(LAYOUT_ROWS[0])):
            x = geometry.trace_x0_mm + column * geometry.column_width_mm
            parts.append(
                f"M{_mm(x)},{_mm(baseline - TICK_HALF_MM)}"
                f"V{_mm(baseline + TICK_HALF_MM)}"
            )
    return "".join(parts)


def _label_positions(geometry: SheetGeometry) -> list[tuple[str, float, float]]:
    labels = []
    for row, leads in enumerate(LAYOUT_ROWS):
        for column, lead in enumerate(leads):
            x = geometry.trace_x0_mm + column * geometry.column_width_mm
            labels.append((lead, x, geometry.baselines_mm[row]))
    labels.append((RHYTHM_LEAD, geometry.trace_x0_mm, geometry.baselines_mm[-1]))
    return [(lead, x + LABEL_DX_MM, y + LABEL_DY_MM) for lead, x, y in labels]


@lru_cache(maxsize=16)
def _sheet_frame(speed_mm_s: float, gain_mm_mv: float) -> tuple[str, str]:
    """Everything but the traces: the text before them and the text after them."""
    geometry = sheet_geometry(speed_mm_s=speed_mm_s, gain_mm_mv=gain_mm_mv)
    width, height = _mm(geometry.width_mm), _mm(geometry.height_mm)
    head = "\n".join(
        [
            f'<svg xmlns="{_SVG_NS}" viewBox="0 0 {width} {height}" width="100%"'
            ' preserveAspectRatio="xMidYMid meet">',
            f'<rect width="{width}" height="{height}" fill="{PAPER_COLOUR}"/>',
            '<g class="ecg-grid" fill="none">',
            f'<path stroke="{MINOR_COLOUR}" stroke-width="{_mm(MINOR_WIDTH_MM)}"'
            f' d="{_grid_path(geometry, GRID_MINOR_MM, GRID_MAJOR_MM)}"/>',
            f'<path stroke="{MAJOR_COLOUR}" stroke-width="{_mm(MAJOR_WIDTH_MM)}"'
            f' d="{_grid_path(geometry, GRID_MAJOR_MM, None)}"/>',
            "</g>",
            f'<g fill="none" stroke="{TRACE_COLOUR}"'
            f' stroke-width="{_mm(TRACE_WIDTH_MM)}" stroke-linejoin="round"'
            ' stroke-linecap="round">',
            f'<path class="ecg-calibration" d="{_calibration_path(geometry)}"/>',
            f'<path class="ecg-separators" d="{_separator_path(geometry)}"/>',
            '<g class="ecg-traces">',
            "",
        ]
    )
    label_lines = [
        f'<text x="{_mm(x)}" y="{_mm(y)}">{lead}</text>'
        for lead, x, y in _label_positions(geometry)
    ]
    tail = "\n".join(
        [
            "",
            "</g>",
            "</g>",
            f'<g class="ecg-labels" fill="{TRACE_COLOUR}"'
            ' font-family="Helvetica, Arial, sans-serif"'
            f' font-size="{_mm(LABEL_SIZE_MM)}">',
            *label_lines,
            "</g>",
            "</svg>",
            "",
        ]
    )
    return head, tail


@lru_cache(maxsize=16)
def _segments(fs: float) -> tuple[tuple[int, int, int, int], ...]:
    """(lead index, row, first sample, stop sample) of the 13 traces, in drawing order.

    Column k holds the samples whose time lies in [2.5k, 2.5(k+1)) s, so no
    sample is drawn twice in a row and none is lost at a column boundary.
    """

    def first_sample_at(seconds: float) -> int:
        # The tolerance keeps 2.5 s * 100 Hz from landing on sample 251 by rounding.
        return math.ceil(seconds * fs - 1e-9)

    segments = []
    for row, leads in enumerate(LAYOUT_ROWS):
        for column, lead in enumerate(leads):
            start = first_sample_at(column * COLUMN_S)
            stop = first_sample_at((column + 1) * COLUMN_S)
            segments.append((LEADS.index(lead), row, start, stop))
    segments.append(
        (LEADS.index(RHYTHM_LEAD), len(LAYOUT_ROWS), 0, first_sample_at(DURATION_S))
    )
    return tuple(segments)


# Every trace coordinate is written in the same width (000.00 to 999.99 mm), so a
# sheet's length in bytes is the same for every ECG and says nothing of its
# amplitudes; a variable width let Content-Length alone tell the origin (AUC 0.85).
_COORDINATE_MAX_HUNDREDTHS = 99_999


@lru_cache(maxsize=64)
def _polyline_template(n_points: int) -> str:
    """A printf template for an n-point polyline in fixed-width millimetres."""
    point = "%03d.%02d,%03d.%02d"
    return "M" + point + "L" + " ".join([point] * (n_points - 1))


def _check_signal(signal: np.ndarray, fs: float) -> tuple[np.ndarray, float]:
    array = np.asarray(signal)
    if array.dtype.kind not in "biuf":
        raise ValueError(
            "signal must be a real numeric array in millivolts, "
            f"got dtype {array.dtype}"
        )
    if array.ndim != 2 or array.shape[0] != len(LEADS):
        raise ValueError(
            f"signal must have shape (12, L) with leads {', '.join(LEADS)}, "
            f"got shape {array.shape}"
        )
    fs = _check_positive("fs", fs)
    if fs < MIN_FS_HZ:
        raise ValueError(f"fs must be at least {MIN_FS_HZ:g} Hz, got {fs:g}")
    needed = math.ceil(DURATION_S * fs - 1e-9)
    if array.shape[1] < needed:
        raise ValueError(
            f"signal is too short: {array.shape[1]} samples at {fs:g} Hz "
            f"({array.shape[1] / fs:.2f} s); the sheet needs {DURATION_S:g} s "
            f"({needed} samples)"
        )
    array = array[:, :needed].astype(np.float64)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = [lead for lead, ok in zip(LEADS, finite, strict=True) if not ok]
        raise ValueError(
            f"signal has non-finite values (NaN or inf) in lead(s) {', '.join(bad)}"
        )
    return array, fs


def render_sheet(
    signal: np.ndarray,
    fs: float,
    *,
    speed_mm_s: float = SPEED_MM_S,
    gain_mm_mv: float = GAIN_MM_MV,
) -> str:
    """Draw a (12, L) millivolt ECG at ``fs`` Hz as a standard 12-lead sheet in SVG.

    Three rows of four 2.5-s columns (I aVR V1 V4 / II aVL V2 V5 / III aVF V3 V6)
    and a 10-s lead II rhythm strip, on 1-mm and 5-mm grid paper with a 1 mV x
    200 ms calibration step per row. Millimetres are the SVG user units.

    The document's element tree, attribute names and every attribute value other
    than the ``d`` of the 13 trace paths are the same for every signal, and it
    holds no text but the lead labels, so only the waveform can tell two ECGs
    apart; every trace coordinate has the same width, so two sheets of one rate
    have the same length in bytes. Nothing is clipped: a trace overlaps the
    neighbouring rows as on a printout, and the paper leaves room above the first
    row and below the last for the canonical limit of +/- SIGNAL_LIMIT_MV. The
    same input gives byte-identical output.
    """
    geometry = sheet_geometry(speed_mm_s=speed_mm_s, gain_mm_mv=gain_mm_mv)
    array, fs = _check_signal(signal, fs)
    head, tail = _sheet_frame(geometry.speed_mm_s, geometry.gain_mm_mv)
    segments = _segments(fs)

    n_samples = array.shape[1]
    # Absolute times, so a column's trace and the rhythm strip share x positions.
    x_all = np.rint(
        (geometry.trace_x0_mm + np.arange(n_samples) * (geometry.speed_mm_s / fs)) * 100
    ).astype(np.int64)
    xs, ys = [], []
    for lead, row, start, stop in segments:
        baseline = geometry.baselines_mm[row]
        xs.append(x_all[start:stop])
        ys.append(baseline - array[lead, start:stop] * geometry.gain_mm_mv)
    x_hundredths = np.concatenate(xs)
    # Within the canonical limit every y lies on the paper. A signal beyond it
    # (never a canonical one) is held to the paper's edge, so no "-0.00" can
    # appear, every coordinate keeps its width and integer division yields the
    # digits directly.
    y_max = min(round(geometry.height_mm * 100), _COORDINATE_MAX_HUNDREDTHS)
    y_hundredths = np.clip(np.rint(np.concatenate(ys) * 100).astype(np.int64), 0, y_max)
    # (N, 4): whole and hundredths of x, then of y
    digits = np.empty((x_hundredths.size, 4), dtype=np.int64)
    digits[:, 0], digits[:, 1] = np.divmod(x_hundredths, 100)
    digits[:, 2], digits[:, 3] = np.divmod(y_hundredths, 100)
    flat = digits.ravel().tolist()

    paths = []
    offset = 0
    for _, _, start, stop in segments:
        n_points = stop - start
        values = tuple(flat[4 * offset : 4 * (offset + n_points)])
        paths.append(f'<path d="{_polyline_template(n_points) % values}"/>')
        offset += n_points
    return head + "\n".join(paths) + tail


# The waveform for the viewer's other layouts: every lead's 10 s in microvolts, each
# sample three base64url characters (value + 2**17), so the text's length depends on
# the sampling rate alone, never on the amplitudes.
_WAVEFORM_ALPHABET = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8
)
_WAVEFORM_OFFSET = 1 << 17


def waveform_text(signal: np.ndarray, fs: float) -> str:
    """The first DURATION_S of a (12, L) millivolt ECG as fixed-width text.

    Leads in LEADS order, one after the other; each sample is its value in
    microvolts (rounded, held within +/- SIGNAL_LIMIT_MV as the sheet is) plus
    2**17, written as three base64url digits, most significant first.
    """
    array, fs = _check_signal(signal, fs)
    limit = round(SIGNAL_LIMIT_MV * 1000)
    microvolts = np.clip(np.rint(array * 1000).astype(np.int64), -limit, limit)
    values = (microvolts + _WAVEFORM_OFFSET).ravel()  # (12 * n,)
    digits = np.stack([(values >> 12) & 63, (values >> 6) & 63, values & 63], axis=1)
    return _WAVEFORM_ALPHABET[digits.ravel()].tobytes().decode("ascii")
