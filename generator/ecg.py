"""Canonical 12-lead ECG form: WFDB reading, lead mapping, preprocessing, 8 -> 12 leads.

Every ECG in the product, real or synthetic, passes through :func:`canonicalize` so
that nothing but the waveform tells two records apart: the same 10-s window, the
same sampling rate, the same band-pass filter, millivolts, the same clipping.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import signal as sps

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
# The leads SSSD-ECG generates; the other four follow from Einthoven and Goldberger.
INDEPENDENT_LEADS: tuple[str, ...] = ("I", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

CANONICAL_FS = 100  # Hz, the rate SSSD-ECG generates at
DURATION_S = 10.0
BANDPASS_HZ = (0.5, 40.0)  # removes baseline wander, keeps the diagnostic band
FILTER_ORDER = 2  # per direction; sosfiltfilt doubles it
CLIP_MV = 5.0  # beyond any physiological surface ECG amplitude at rest

MAX_INTERPOLATED_GAP_S = 0.02  # isolated missing samples are bridged, runs rejected
FLAT_LINE_MV = 0.01  # a lead whose whole window spans less than this is flat

_UNIT_TO_MV = {
    "mv": 1.0,
    "millivolt": 1.0,
    "millivolts": 1.0,
    "uv": 1e-3,
    "µv": 1e-3,
    "μv": 1e-3,
    "microvolt": 1e-3,
    "microvolts": 1e-3,
    "v": 1e3,
    "volt": 1e3,
    "volts": 1e3,
}

_LEAD_ALIASES = {name.lower(): name for name in LEADS} | {
    "d1": "I",
    "d2": "II",
    "d3": "III",
    "mlii": "II",
    "-avr": None,  # inverted aVR (Cabrera); handled separately by sign
}


class EcgError(ValueError):
    """A record that cannot be put into canonical form; says which and why."""

    def __init__(self, record: str, reason: str):
        self.record = record
        self.reason = reason
        super().__init__(f"{record}: {reason}")


@dataclass(frozen=True)
class RawEcg:
    """A record as read from disk: 12 leads in canonical order, mV, source rate."""

    record: str
    signal: np.ndarray = field(repr=False)  # (12, N) float64, millivolts
    fs: float
    comments: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.signal.shape[1] / self.fs


def canonical_lead_name(name: str) -> str | None:
    """Map a lead name from any source to its canonical spelling, or None if unknown.

    >>> canonical_lead_name("AVR"), canonical_lead_name(" lead v1 ")
    ('aVR', 'V1')
    """
    key = re.sub(r"^lead\s*", "", name.strip().lower()).replace(" ", "")
    return _LEAD_ALIASES.get(key)


def units_to_mv(unit: str | None, *, record: str, lead: str) -> float:
    """Factor that turns a signal in ``unit`` into millivolts."""
    key = (unit or "").strip().lower()
    if key not in _UNIT_TO_MV:
        raise EcgError(
            record,
            f"lead {lead} has unknown units {unit!r}; expected one of mV, uV, V",
        )
    return _UNIT_TO_MV[key]


def map_leads(
    signal: np.ndarray,
    names: list[str],
    units: list[str | None] | None = None,
    *,
    record: str = "array",
) -> np.ndarray:
    """Reorder a (n_channels, N) array into the 12 canonical leads, in millivolts.

    Leads are matched by name, never by position. Extra channels (Frank leads,
    rhythm strips) are ignored. If III, aVR, aVL or aVF are missing they are
    derived from I and II; every other missing lead is an error.
    """
    if signal.ndim != 2 or signal.shape[0] != len(names):
        raise EcgError(
            record, f"signal shape {signal.shape} does not match {len(names)} names"
        )
    units = units if units is not None else ["mV"] * len(names)
    found: dict[str, np.ndarray] = {}
    for row, name, unit in zip(signal, names, units, strict=True):
        key = re.sub(r"^lead\s*", "", name.strip().lower()).replace(" ", "")
        sign = 1.0
        if key == "-avr":
            canonical, sign = "aVR", -1.0
        else:
            canonical = canonical_lead_name(name)
        if canonical is None or canonical in found:
            continue
        found[canonical] = sign * row * units_to_mv(unit, record=record, lead=name)

    if "I" in found and "II" in found:
        lead_i, lead_ii = found["I"], found["II"]
        found.setdefault("III", lead_ii - lead_i)
        found.setdefault("aVR", -(lead_i + lead_ii) / 2)
        found.setdefault("aVL", lead_i - lead_ii / 2)
        found.setdefault("aVF", lead_ii - lead_i / 2)
    missing = [lead for lead in LEADS if lead not in found]
    if missing:
        raise EcgError(
            record,
            f"missing leads {', '.join(missing)} (found {', '.join(names)}); "
            "need the 12 standard leads, or I, II and V1-V6",
        )
    return np.stack([np.asarray(found[lead], dtype=np.float64) for lead in LEADS])


def read_wfdb(path: str | Path) -> RawEcg:
    """Read a WFDB record (path without extension) into 12 canonical leads in mV."""
    import wfdb  # slow import; only readers of files pay for it

    path = Path(path)
    record = str(path)
    header = path.with_suffix(".hea") if path.suffix != ".hea" else path
    path = header.with_suffix("")
    if not header.is_file():
        raise EcgError(record, f"header file {header.name} not found")
    try:
        rec = wfdb.rdheader(str(path))
    except Exception as exc:  # wfdb raises bare Exceptions for malformed headers
        raise EcgError(record, f"corrupt header: {exc}") from exc
    if not rec.sig_name or not rec.fs:
        raise EcgError(record, "corrupt header: no signals or no sampling frequency")
    for file_name in sorted(set(rec.file_name or [])):
        if not (path.parent / file_name).is_file():
            raise EcgError(record, f"signal file {file_name} not found")
    try:
        rec = wfdb.rdrecord(str(path), physical=True)
    except Exception as exc:
        raise EcgError(record, f"unreadable signal: {exc}") from exc
    signal = np.asarray(rec.p_signal, dtype=np.float64).T  # (n_channels, N)
    mapped = map_leads(signal, list(rec.sig_name), list(rec.units), record=record)
    return RawEcg(
        record=record,
        signal=mapped,
        fs=float(rec.fs),
        comments=tuple(rec.comments or ()),
    )


def _fill_short_gaps(x: np.ndarray, fs: float, record: str) -> np.ndarray:
    """Interpolate isolated missing samples; reject runs longer than a few ms."""
    missing = ~np.isfinite(x)
    if not missing.any():
        return x
    max_gap = max(1, int(round(MAX_INTERPOLATED_GAP_S * fs)))
    x = x.copy()
    for lead_index, row in enumerate(missing):
        if not row.any():
            continue
        padded = np.concatenate(([False], row, [False]))
        edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
        starts, stops = edges[::2], edges[1::2]
        longest = int((stops - starts).max())
        if longest > max_gap:
            raise EcgError(
                record,
                f"lead {LEADS[lead_index]} has a run of {longest} missing samples "
                f"({longest / fs * 1000:.0f} ms) in the 10-s window",
            )
        good = np.flatnonzero(~row)
        if good.size < 2:
            raise EcgError(record, f"lead {LEADS[lead_index]} has no valid samples")
        x[lead_index, row] = np.interp(np.flatnonzero(row), good, x[lead_index, good])
    return x


def _bandpass_sos(fs: float) -> np.ndarray:
    low, high = BANDPASS_HZ
    high = min(high, 0.45 * fs)
    return sps.butter(FILTER_ORDER, (low, high), btype="bandpass", fs=fs, output="sos")


def canonicalize(
    signal: np.ndarray,
    fs: float,
    *,
    target_fs: int = CANONICAL_FS,
    start_s: float = 0.0,
    duration_s: float = DURATION_S,
    record: str = "array",
) -> np.ndarray:
    """Turn a (12, N) millivolt array at ``fs`` into the canonical float32 (12, L).

    Steps, always in this order: take the window [start_s, start_s + duration_s);
    bridge isolated missing samples; resample to ``target_fs`` with a polyphase
    filter; remove baseline wander and band-limit with one zero-phase Butterworth
    band-pass; clip to +/- CLIP_MV; reject flat leads.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(LEADS):
        raise EcgError(record, f"expected shape (12, N), got {x.shape}")
    if not (math.isfinite(fs) and fs > 0):
        raise EcgError(record, f"sampling frequency must be positive, got {fs}")
    if target_fs <= 0:
        raise EcgError(record, f"target rate must be positive, got {target_fs}")
    first = int(round(start_s * fs))
    n_window = int(round(duration_s * fs))
    if first < 0 or first + n_window > x.shape[1]:
        available = x.shape[1] / fs
        raise EcgError(
            record,
            f"record too short: {available:.2f} s, needs {duration_s:g} s "
            f"from {start_s:g} s",
        )
    x = _fill_short_gaps(x[:, first : first + n_window], fs, record)

    ratio = Fraction(target_fs) / Fraction(fs).limit_denominator(1000)
    if ratio != 1:
        x = sps.resample_poly(
            x, ratio.numerator, ratio.denominator, axis=1, padtype="mean"
        )
    n_target = int(round(duration_s * target_fs))
    x = x[:, :n_target]
    if x.shape[1] != n_target:  # a rounding shortfall of one sample at odd rates
        x = np.pad(x, ((0, 0), (0, n_target - x.shape[1])), mode="edge")

    x = sps.sosfiltfilt(_bandpass_sos(target_fs), x, axis=1)
    x = np.clip(x, -CLIP_MV, CLIP_MV)
    spans = np.ptp(x, axis=1)
    flat = [
        lead for lead, span in zip(LEADS, spans, strict=True) if span < FLAT_LINE_MV
    ]
    if flat:
        raise EcgError(record, f"flat line in lead(s) {', '.join(flat)}")
    return x.astype(np.float32)


def load_canonical(
    path: str | Path,
    *,
    target_fs: int = CANONICAL_FS,
    start_s: float = 0.0,
    duration_s: float = DURATION_S,
) -> np.ndarray:
    """Read a WFDB record and return its canonical float32 (12, L) form."""
    raw = read_wfdb(path)
    return canonicalize(
        raw.signal,
        raw.fs,
        target_fs=target_fs,
        start_s=start_s,
        duration_s=duration_s,
        record=raw.record,
    )


def expand_to_12(independent: np.ndarray) -> np.ndarray:
    """(…, 8, L) leads I, aVF, V1-V6 -> (…, 12, L) in canonical order.

    II = I/2 + aVF and III = aVF - I/2 follow from Einthoven (II = I + III) and
    Goldberger (aVF = (II + III)/2); aVR = -(I + II)/2, aVL = (I - III)/2.
    """
    if independent.shape[-2] != len(INDEPENDENT_LEADS):
        raise ValueError(
            f"expected {len(INDEPENDENT_LEADS)} leads "
            f"({', '.join(INDEPENDENT_LEADS)}), got shape {independent.shape}"
        )
    lead_i = independent[..., 0, :]
    lead_avf = independent[..., 1, :]
    limb = [
        lead_i,
        0.5 * lead_i + lead_avf,
        -0.5 * lead_i + lead_avf,
        -0.75 * lead_i - 0.5 * lead_avf,
        0.75 * lead_i - 0.5 * lead_avf,
        lead_avf,
    ]
    precordial = [independent[..., k, :] for k in range(2, 8)]
    stack = np.stack if isinstance(independent, np.ndarray) else _torch_stack
    return stack(limb + precordial, axis=-2)


def reduce_to_8(leads12: np.ndarray) -> np.ndarray:
    """(…, 12, L) canonical leads -> (…, 8, L) leads I, aVF, V1-V6."""
    if leads12.shape[-2] != len(LEADS):
        raise ValueError(f"expected 12 leads, got shape {leads12.shape}")
    return leads12[..., [LEADS.index(name) for name in INDEPENDENT_LEADS], :]


def _torch_stack(tensors, axis):
    import torch

    return torch.stack(tensors, dim=axis)
