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
# Above any ECG recorder's rate; keeps the 10-s window and the resampler small.
MAX_FS = 20_000.0

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


_WFDB_NAME = re.compile(r"[-\w]+")  # what wfdb accepts as a record name
_FS_TEXT = re.compile(r"\d+\.?\d*|\.\d+")  # a WFDB frequency: digits, one point


class EcgError(ValueError):
    """A record that cannot be put into canonical form; says which and why."""

    def __init__(self, record: str, reason: str):
        self.record = record
        self.reason = reason
        super().__init__(f"{record}: {reason}")


@dataclass(frozen=True)
class RawEcg:
    """Samples read from a record (a window or all): 12 leads in order, mV, its rate."""

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


def _header_path(record: Path) -> Path:
    """The header of a record path: ``rec.v2`` -> ``rec.v2.hea`` (not ``rec.hea``)."""
    return record.with_name(record.name + ".hea")


def _file_problem(path: Path, root: Path) -> str | None:
    """Why ``path`` cannot be read as a file of the dataset at ``root``, or None."""
    if path.is_symlink() and not path.exists():
        return "is a broken or looping symbolic link"
    if path.is_dir():
        return "is a folder, not a file"
    if not path.is_file():
        return "not found"
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        return f"resolves to {resolved}, outside the dataset folder {root}"
    return None


def _record_line(text: str) -> list[str]:
    """Fields of a header's record line, the first line that is not a comment."""
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.split()
    return []


def _header_fs(fields: list[str], *, record: str) -> float:
    """The sampling frequency the record line states, checked.

    wfdb reads a missing or unparsable frequency (``nan``, ``-500``) as the WFDB
    default of 250 Hz; a record on a guessed time base must fail instead.
    """
    if len(fields) < 3:
        raise EcgError(
            record,
            "header gives no sampling frequency (WFDB would read 250 Hz); "
            "write it after the number of signals",
        )
    text = re.split(r"[/(]", fields[2], maxsplit=1)[0]
    fs = float(text) if _FS_TEXT.fullmatch(text) else math.nan
    if not (math.isfinite(fs) and fs > 0):
        raise EcgError(
            record,
            f"header sampling frequency {text!r} is not a positive finite number "
            "of Hz (WFDB would read 250 Hz)",
        )
    return fs


def read_wfdb(
    path: str | Path,
    *,
    root: str | Path | None = None,
    start_s: float = 0.0,
    duration_s: float | None = None,
    min_fs: float = CANONICAL_FS,
) -> RawEcg:
    """Read a WFDB record (path without extension) into 12 canonical leads in mV.

    Only the samples of [start_s, start_s + duration_s) are read from disk (the
    whole record from ``start_s`` when ``duration_s`` is None). The header and
    every signal file it names must resolve, after symbolic links, inside
    ``root`` (default: the header's folder). The header's sampling frequency must
    be stated, finite and within [min_fs, MAX_FS].
    """
    import wfdb  # slow import; only readers of files pay for it

    path = Path(path)
    if path.name.endswith(".hea"):
        path = path.with_name(path.name[: -len(".hea")])
    record = str(path)
    header = _header_path(path)
    root = Path(root) if root is not None else header.parent
    problem = _file_problem(header, root)
    if problem:
        raise EcgError(record, f"header file {header.name} {problem}")
    if not _WFDB_NAME.fullmatch(path.name):
        raise EcgError(
            record,
            f"record name {path.name!r} is not a WFDB record name "
            "(letters, digits, '_' and '-' only)",
        )
    try:
        text = header.read_text(errors="replace")
    except OSError as exc:
        raise EcgError(record, f"header file {header.name} unreadable: {exc}") from exc
    fields = _record_line(text)
    if not fields:
        raise EcgError(record, "corrupt header: no record line")
    named = fields[0].split("/")[0]
    if named != path.name:
        raise EcgError(
            record,
            f"header {header.name} describes record {named!r}, not {path.name!r}",
        )
    try:
        rec = wfdb.rdheader(str(path))
    except Exception as exc:  # wfdb raises bare Exceptions for malformed headers
        raise EcgError(record, f"corrupt header: {exc}") from exc
    fs = _header_fs(fields, record=record)
    if fs < min_fs:
        raise EcgError(
            record,
            f"sampling frequency {fs:g} Hz is too low: need at least {min_fs:g} Hz "
            "(the pool's rate), as upsampling would invent the missing band",
        )
    if fs > MAX_FS:
        raise EcgError(
            record,
            f"sampling frequency {fs:g} Hz is too high: ECGs are read up to "
            f"{MAX_FS:g} Hz",
        )
    if isinstance(rec, wfdb.MultiRecord):
        raise EcgError(record, "multi-segment records are not supported")
    if not rec.sig_name:
        raise EcgError(record, "corrupt header: no signals")
    if not (rec.fs and math.isclose(rec.fs, fs, rel_tol=1e-6)):
        raise EcgError(
            record, f"corrupt header: wfdb reads {rec.fs} Hz where it says {fs:g} Hz"
        )
    for file_name in sorted(set(rec.file_name or [])):
        problem = _file_problem(path.parent / file_name, root)
        if problem:
            raise EcgError(record, f"signal file {file_name} {problem}")

    first = int(round(start_s * fs))
    n_window = None if duration_s is None else int(round(duration_s * fs))
    length, whole = rec.sig_len, None
    try:
        if length is None:
            # wfdb refuses a bounded read of a header without a length; a whole
            # read infers the length from the size of the signal file.
            rec = wfdb.rdrecord(str(path), physical=True)
            whole = np.empty((0, 0)) if rec.p_signal is None else rec.p_signal
            length = whole.shape[0]
        stop = length if n_window is None else first + n_window
        if first >= length or stop > length:
            raise _too_short(record, length / fs, start_s, duration_s)
        if whole is None:
            rec = wfdb.rdrecord(str(path), sampfrom=first, sampto=stop, physical=True)
            whole, first, stop = rec.p_signal, 0, stop - first
        signal = np.asarray(whole[first:stop], dtype=np.float64).T  # (n_ch, n_window)
    except EcgError:
        raise
    except Exception as exc:
        raise EcgError(record, f"unreadable signal: {exc}") from exc
    mapped = map_leads(signal, list(rec.sig_name), list(rec.units), record=record)
    return RawEcg(
        record=record,
        signal=mapped,
        fs=fs,
        comments=tuple(rec.comments or ()),
    )


def _too_short(
    record: str, available_s: float, start_s: float, duration_s: float | None
) -> EcgError:
    needs = f"needs {duration_s:g} s" if duration_s is not None else "needs samples"
    return EcgError(
        record, f"record too short: {available_s:.2f} s, {needs} from {start_s:g} s"
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
    band-pass; rebuild II, III, aVR and aVL from I and aVF; clip to +/- CLIP_MV;
    reject flat leads.

    The rebuilt limb leads are one construction for every ECG. The generator
    draws I and aVF and derives the other four by Einthoven's and Goldberger's
    laws (``expand_to_12``), so in its ECGs aVR + aVL + aVF is exactly zero; a
    recording carries its own quantisation noise in each stored lead, so that sum
    is not. Left alone, the sum read back from a sheet told the origin without an
    error on the demo pool. Rebuilding every ECG's limb leads the generator's way
    removes that signature at its root; the six limb leads of a recording span two
    dimensions anyway, so no cardiac signal is lost.
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
    x = rebuild_limb_leads(x)
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
    root: str | Path | None = None,
    target_fs: int = CANONICAL_FS,
    start_s: float = 0.0,
    duration_s: float = DURATION_S,
) -> np.ndarray:
    """Read a WFDB record and return its canonical float32 (12, L) form.

    Only the window is read from disk; ``root`` is the dataset folder every file
    of the record must lie in (see :func:`read_wfdb`).
    """
    raw = read_wfdb(
        path, root=root, start_s=start_s, duration_s=duration_s, min_fs=target_fs
    )
    return canonicalize(
        raw.signal,
        raw.fs,
        target_fs=target_fs,
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


def rebuild_limb_leads(leads12: np.ndarray) -> np.ndarray:
    """(12, L) canonical leads with II, III, aVR and aVL rebuilt from I and aVF,
    as the generator builds them, and every lead clipped to +/- CLIP_MV."""
    return np.clip(expand_to_12(reduce_to_8(leads12)), -CLIP_MV, CLIP_MV)


def reduce_to_8(leads12: np.ndarray) -> np.ndarray:
    """(…, 12, L) canonical leads -> (…, 8, L) leads I, aVF, V1-V6."""
    if leads12.shape[-2] != len(LEADS):
        raise ValueError(f"expected 12 leads, got shape {leads12.shape}")
    return leads12[..., [LEADS.index(name) for name in INDEPENDENT_LEADS], :]


def _torch_stack(tensors, axis):
    import torch

    return torch.stack(tensors, dim=axis)
