"""Readers of public ECG dataset layouts: which records exist and what their labels say.

Each reader yields :class:`SourceRecord` rows (a WFDB path plus labels); the signal
itself is read later by :func:`generator.ecg.load_canonical`. Labels are kept as
the source wrote them and also normalised to one rhythm class and a normal flag.
"""

from __future__ import annotations

import ast
import csv
import io
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

FORMATS = ("ptbxl", "mimic", "challenge", "ludb", "folder")
RHYTHMS = ("AF", "AFL", "SR", "SB", "STach", "SA", "PACED", "other")


class DatasetError(ValueError):
    """A dataset folder that does not have the layout its format promises."""


class LabelsError(DatasetError):
    """A labels CSV that cannot be applied as written; names the file and line."""


@dataclass(frozen=True)
class SourceRecord:
    """One record of a source dataset, before its signal is read."""

    path: Path  # WFDB record path without extension
    record_id: str  # the source's own id, unique within the dataset
    dataset: str
    labels: tuple[str, ...]  # the source's own statements or codes
    rhythm: str  # one of RHYTHMS
    normal: bool | None  # None where the source says nothing either way
    age: int | None = None
    sex: str | None = None  # "M" or "F"
    split: str | None = None  # train / val / test where the source fixes one
    # Problems with the labels that did not stop the record (e.g. an unreadable
    # age stored as unknown), for the import's report.
    warnings: tuple[str, ...] = ()


# When a source names several rhythms, the most specific finding wins. Pacing
# comes first: a reader sees the pacemaker's spikes and paced complexes whatever
# the underlying rhythm, so a paced ECG filed as AF or SR would be a case that
# only a real recording can be.
_RHYTHM_PRECEDENCE = ("PACED", "AF", "AFL", "SB", "STach", "SA", "SR")

_SINUS = frozenset({"SR", "SB", "STach", "SA"})

# SNOMED CT codes of the PhysioNet/CinC Challenge 2020-2021 label set.
SNOMED_RHYTHM = {
    "164889003": "AF",
    "164890007": "AFL",
    "426783006": "SR",
    "426177001": "SB",
    "427084000": "STach",
    "427393009": "SA",
    "10370003": "PACED",
    "164909002": None,  # left bundle branch block: not a rhythm
}
SNOMED_SINUS_RHYTHM = "426783006"

PTBXL_RHYTHM = {
    "AFIB": "AF",
    "AFLT": "AFL",
    "SR": "SR",
    "SBRAD": "SB",
    "STACH": "STach",
    "SARRH": "SA",
    "PACE": "PACED",
}

# Pacing statements: "paced rhythm", "ventricular pacing", "UNIpolar atrial
# pacing", "Biventricular pacing", "pacemaker rhythm" -- but never LUDB's
# "Wandering atrial pacemaker", a natural rhythm.
_PACING = re.compile(r"\bpac(ed|ing)\b|pacemaker (rhythm|spike)")

# Checked in order: the first match wins, so AF in a report that also says
# "sinus rhythm" (e.g. "sinus rhythm ... now atrial fibrillation") reads as AF,
# and pacing wins over both.
_TEXT_RHYTHM = (
    ("PACED", _PACING),
    ("AF", re.compile(r"atrial fibrillation|\bafib\b")),
    ("AFL", re.compile(r"atrial flutter")),
    ("SB", re.compile(r"sinus brad")),
    ("STach", re.compile(r"sinus tach")),
    ("SA", re.compile(r"sinus arrhythmia|irregular sinus")),
    ("SR", re.compile(r"sinus rhythm")),
)


def rhythm_from_text(statements: Iterable[str]) -> str:
    """Normalise free-text rhythm statements (MIMIC, LUDB) to one of RHYTHMS."""
    text = " ".join(statements).lower()
    for rhythm, pattern in _TEXT_RHYTHM:
        if pattern.search(text):
            return rhythm
    return "other"


def _first_rhythm(codes: Iterable[str], table: dict[str, str | None]) -> str:
    found = {table[code] for code in codes if table.get(code)}
    for rhythm in _RHYTHM_PRECEDENCE:
        if rhythm in found:
            return rhythm
    return "other"


def _parse_sex(value: str | None) -> str | None:
    value = (value or "").strip().lower()
    if value in {"m", "male", "0"}:
        return "M"
    if value in {"f", "female", "1"}:
        return "F"
    return None


# How sources write an age they do not know or withhold (LUDB writes ">89");
# stored as unknown without a warning.
_UNKNOWN_AGES = frozenset({"", "nan", "unknown", "none", "n/a", "na", ">89"})
PTBXL_HIDDEN_AGE = 300  # PTB-XL's code for an age over 89


def _read_age(
    value: str | None, *, hidden: float | None = None
) -> tuple[int | None, str]:
    """(age in whole years or None, "" or why the value is not an age).

    ``hidden`` is a source's numeric code for an age it withholds.
    """
    text = (value or "").strip()
    if text.lower() in _UNKNOWN_AGES:
        return None, ""
    try:
        age = float(text)
    except ValueError:
        age = math.nan
    if hidden is not None and age == hidden:
        return None, ""
    if math.isfinite(age) and 0 <= age <= 120:
        return int(age), ""  # completed years
    return None, f"age {text!r} is not an age in years from 0 to 120"


def _parse_age(value: str | None) -> int | None:
    return _read_age(value)[0]


def _age_fields(value: str | None, *, hidden: float | None = None) -> dict[str, object]:
    """SourceRecord fields for an age: the age, and a warning where it is none."""
    age, problem = _read_age(value, hidden=hidden)
    if problem:
        return {"age": age, "warnings": (f"{problem}; stored as unknown",)}
    return {"age": age}


def _header_text(header: Path) -> str:
    """A header's text, or "" when it cannot be read; reading the record's signal
    then fails with the reason (a folder, a broken link, no permission)."""
    try:
        return header.read_text(errors="replace")
    except OSError:
        return ""


def _header_fields(header: Path) -> dict[str, str]:
    """The `# Key: value` comment lines of a WFDB header, keys lower-cased."""
    fields: dict[str, str] = {}
    for line in _header_text(header).splitlines():
        match = re.match(r"#\s*<?([A-Za-z ]+?)>?\s*:\s*(.*)$", line)
        if match:
            fields.setdefault(match.group(1).strip().lower(), match.group(2).strip())
    return fields


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DatasetError(f"{path} not found: {what}")
    return path


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A CSV file's header and its (line number, row) pairs.

    Anything unreadable is a DatasetError naming the file and line: a folder,
    bytes that are not UTF-8, a row with more or fewer fields than the header.
    """
    if path.is_dir():
        raise DatasetError(f"{path} is a folder, not a CSV file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path} cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DatasetError(
            f"{path} line {line}: not UTF-8 (byte {data[exc.start]:#04x}); "
            "save the file as UTF-8"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        header = next(reader, [])
        for fields in reader:
            if not fields:  # a blank line
                continue
            if len(fields) != len(header):
                raise DatasetError(
                    f"{path} line {reader.line_num}: {len(fields)} fields, but the "
                    f"header has {len(header)} ({', '.join(header)})"
                )
            rows.append((reader.line_num, dict(zip(header, fields, strict=True))))
    except csv.Error as exc:
        raise DatasetError(f"{path} line {reader.line_num}: {exc}") from None
    return header, rows


def _read_csv(path: Path) -> list[dict[str, str]]:
    return [row for _, row in _read_table(path)[1]]


def iter_ptbxl(root: Path, *, min_likelihood: float = 0.0) -> Iterator[SourceRecord]:
    """PTB-XL: ptbxl_database.csv + scp_statements.csv + records500/ or records100/.

    Statements count when their likelihood is at least ``min_likelihood``; rhythm
    statements always count (PTB-XL gives them likelihood 0 by convention).
    """
    database = _require(root / "ptbxl_database.csv", "not a PTB-XL folder")
    statements = _read_csv(_require(root / "scp_statements.csv", "PTB-XL statements"))
    rhythm_codes = {
        row[""] for row in statements if row.get("rhythm", "").strip() in {"1", "1.0"}
    }
    for line, row in _read_table(database)[1]:
        try:
            codes = ast.literal_eval(row["scp_codes"])
            labels = tuple(
                code
                for code, likelihood in codes.items()
                if code in rhythm_codes or float(likelihood) >= min_likelihood
            )
            record_id = str(int(float(row["ecg_id"])))
        except (ValueError, SyntaxError, TypeError, AttributeError, OverflowError):
            raise DatasetError(
                f"{database} line {line}: ecg_id {row.get('ecg_id')!r}: "
                "bad ecg_id or scp_codes"
            ) from None
        path = root / row["filename_hr"]
        if not path.with_name(path.name + ".hea").exists():  # not with_suffix: a.b
            path = root / row["filename_lr"]
        yield SourceRecord(
            path=path,
            record_id=record_id,
            dataset="ptbxl",
            labels=labels,
            rhythm=_first_rhythm(labels, PTBXL_RHYTHM),
            normal="NORM" in labels,
            sex={"0": "M", "1": "F", "0.0": "M", "1.0": "F"}.get(row.get("sex", "")),
            **_age_fields(row.get("age"), hidden=PTBXL_HIDDEN_AGE),
        )


def iter_mimic(root: Path) -> Iterator[SourceRecord]:
    """MIMIC-IV-ECG: record_list.csv (path), machine_measurements.csv (report_N)."""
    records = _read_csv(_require(root / "record_list.csv", "not a MIMIC-IV-ECG folder"))
    measurements = root / "machine_measurements.csv"
    reports: dict[str, tuple[str, ...]] = {}
    if measurements.exists():
        for row in _read_csv(measurements):
            texts = [
                row[key].strip()
                for key in sorted(row, key=_report_index)
                if key.startswith("report_") and row[key] and row[key].strip()
            ]
            reports[row["study_id"]] = tuple(texts)
    for row in records:
        labels = reports.get(row["study_id"], ())
        lowered = [text.lower() for text in labels]
        normal: bool | None = None
        if labels:
            normal = any(text.rstrip(".") == "normal ecg" for text in lowered)
        yield SourceRecord(
            path=root / row["path"],
            record_id=row["study_id"],
            dataset="mimic-iv-ecg",
            labels=labels,
            rhythm=rhythm_from_text(labels),
            normal=normal,
        )


def _report_index(key: str) -> int:
    match = re.fullmatch(r"report_(\d+)", key)
    return int(match.group(1)) if match else -1


def _record_path(header: Path) -> Path:
    """``rec.v2.hea`` -> ``rec.v2``: only the header's own suffix goes."""
    return header.with_name(header.name.removesuffix(".hea"))


def _wfdb_headers(root: Path) -> list[Path]:
    """Every path named *.hea under root, files or not: a folder or a broken link
    named like a header is listed too, so that its record fails with the reason
    instead of vanishing."""
    headers = sorted(root.rglob("*.hea"))
    if not headers:
        raise DatasetError(f"{root}: no WFDB header (.hea) files found")
    return headers


def iter_challenge(root: Path) -> Iterator[SourceRecord]:
    """PhysioNet/CinC Challenge 2020-2021: `# Dx:` SNOMED CT codes, `# Age`, `# Sex`."""
    for header in _wfdb_headers(root):
        fields = _header_fields(header)
        codes = tuple(
            code.strip() for code in fields.get("dx", "").split(",") if code.strip()
        )
        path = _record_path(header)
        yield SourceRecord(
            path=path,
            record_id=path.name,
            dataset="challenge",
            labels=codes,
            rhythm=_first_rhythm(codes, SNOMED_RHYTHM),
            normal=(codes == (SNOMED_SINUS_RHYTHM,)) if codes else None,
            sex=_parse_sex(fields.get("sex")),
            **_age_fields(fields.get("age")),
        )


def iter_ludb(root: Path) -> Iterator[SourceRecord]:
    """LUDB: diagnoses in the header comments after `# <diagnoses>:`.

    LUDB has no normal label; the proxy used is a sinus rhythm (regular, slow,
    fast or with respiratory arrhythmia) with no finding but the electrical axis.
    """
    folder = root / "records" if (root / "records").is_dir() else root
    for header in _wfdb_headers(folder):
        fields = _header_fields(header)
        lines = _header_text(header).splitlines()
        diagnoses: list[str] = []
        if any("<diagnoses>" in line for line in lines):
            start = next(i for i, line in enumerate(lines) if "<diagnoses>" in line)
            diagnoses = [
                line.lstrip("#").strip().rstrip(".")
                for line in lines[start + 1 :]
                if line.startswith("#") and line.lstrip("#").strip()
            ]
        rhythm_lines = [d for d in diagnoses if d.lower().startswith("rhythm")]
        findings = [
            d
            for d in diagnoses
            if not d.lower().startswith(("rhythm", "electric axis"))
        ]
        # LUDB names pacing among the findings, not on its rhythm line.
        paced = any(_PACING.search(d.lower()) for d in diagnoses)
        rhythm = "PACED" if paced else rhythm_from_text(rhythm_lines)
        path = _record_path(header)
        yield SourceRecord(
            path=path,
            record_id=path.name,
            dataset="ludb",
            labels=tuple(diagnoses),
            rhythm=rhythm,
            normal=(rhythm in _SINUS and not findings) if diagnoses else None,
            sex=_parse_sex(fields.get("sex")),
            **_age_fields(fields.get("age")),
        )


def iter_folder(root: Path) -> Iterator[SourceRecord]:
    """Any folder of WFDB records; `# Dx:` codes are read where present."""
    for record in iter_challenge(root):
        yield replace(record, dataset=root.resolve().name)


_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no"})


def read_labels_csv(path: Path) -> dict[str, dict[str, str]]:
    """A labels CSV keyed by record name: `record` plus any of labels, rhythm,
    normal, age, sex (labels separated by semicolons).

    Every row is checked here, before any record is read, so that a bad file is
    one LabelsError naming the file and line and nothing is half imported.
    """
    try:
        header, rows = _read_table(_require(path, "labels CSV"))
    except LabelsError:
        raise
    except DatasetError as exc:
        raise LabelsError(str(exc)) from None
    if not header:
        raise LabelsError(f"{path} is empty; needs a header row with a 'record' column")
    if "record" not in header:
        raise LabelsError(f"{path}: needs a 'record' column; found {', '.join(header)}")
    by_record: dict[str, dict[str, str]] = {}
    first_line: dict[str, int] = {}
    for line, row in rows:
        problem = _labels_row_problem(row)
        name = row["record"].strip()
        if not problem and name in first_line:
            problem = f"record {name} is already on line {first_line[name]}"
        if problem:
            raise LabelsError(f"{path} line {line}: {problem}")
        by_record[name], first_line[name] = row, line
    return by_record


def _labels_row_problem(row: dict[str, str]) -> str:
    """Why a labels CSV row cannot be applied as written, or ""."""
    if not row["record"].strip():
        return "empty record name"
    rhythm = row.get("rhythm", "").strip()
    if rhythm and rhythm not in RHYTHMS:
        return f"unknown rhythm {rhythm!r}; allowed: {', '.join(RHYTHMS)}"
    normal = row.get("normal", "").strip()
    if normal and normal.lower() not in _TRUE | _FALSE:
        return f"normal {normal!r}; allowed: 1, 0, true, false, yes, no or empty"
    age_problem = _read_age(row.get("age"))[1]
    if age_problem:
        return f"{age_problem} (or empty)"
    return ""


def apply_labels(record: SourceRecord, row: dict[str, str]) -> SourceRecord:
    """A record with the labels CSV's non-empty values (checked by read_labels_csv)."""
    changes: dict[str, object] = {}
    if row.get("labels", "").strip():
        labels = tuple(s.strip() for s in row["labels"].split(";") if s.strip())
        changes["labels"] = labels
        changes["rhythm"] = rhythm_from_text(labels)
    if row.get("rhythm", "").strip():
        changes["rhythm"] = row["rhythm"].strip()
    if row.get("normal", "").strip():
        changes["normal"] = row["normal"].strip().lower() in _TRUE
    if row.get("age", "").strip():
        changes["age"] = _parse_age(row["age"])
        changes["warnings"] = tuple(
            w for w in record.warnings if not w.startswith("age ")
        )
    if row.get("sex", "").strip():
        changes["sex"] = _parse_sex(row["sex"])
    return replace(record, **changes)


def iter_records(
    root: str | Path,
    fmt: str,
    *,
    labels_csv: str | Path | None = None,
    dataset: str | None = None,
    min_likelihood: float = 0.0,
) -> Iterator[SourceRecord]:
    """Records of the dataset at ``root`` in layout ``fmt`` (one of FORMATS).

    ``min_likelihood`` applies to PTB-XL statements only (see :func:`iter_ptbxl`).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    readers = {
        "ptbxl": lambda path: iter_ptbxl(path, min_likelihood=min_likelihood),
        "mimic": iter_mimic,
        "challenge": iter_challenge,
        "ludb": iter_ludb,
        "folder": iter_folder,
    }
    if fmt not in readers:
        raise DatasetError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    overrides = read_labels_csv(Path(labels_csv)) if labels_csv else {}
    for record in readers[fmt](root):
        if record.record_id in overrides:
            record = apply_labels(record, overrides[record.record_id])
        if dataset:
            record = replace(record, dataset=dataset)
        yield record


def iter_index(root: str | Path, splits: Iterable[str]) -> Iterator[SourceRecord]:
    """Records of an `index.csv` folder (the project's shared ECG set) in ``splits``."""
    root = Path(root)
    wanted = set(splits)
    if "test" in wanted and len(wanted) > 1:
        raise ValueError("never mix the held-out test split with other splits")
    for row in _read_csv(_require(root / "index.csv", "index of the ECG folder")):
        if row["split"] not in wanted:
            continue
        yield SourceRecord(
            path=root / row["path"],
            record_id=row["record_id"],
            dataset=row["dataset"],
            labels=tuple(s.strip() for s in row["labels"].split(";") if s.strip()),
            rhythm=row["rhythm"] if row["rhythm"] in RHYTHMS else "other",
            normal=row["normal"] == "1",
            age=_parse_age(row.get("age")),
            sex=_parse_sex(row.get("sex")),
            split=row["split"],
        )


def detect_format(root: str | Path) -> str | None:
    """Guess the layout of a dataset folder from its marker files, or None.

    Only the folder itself and its `records/` subfolder are looked at, so a parent
    folder holding several datasets is not mistaken for one of them.
    """
    root = Path(root)
    if (root / "ptbxl_database.csv").is_file():
        return "ptbxl"
    if (root / "record_list.csv").is_file():
        return "mimic"
    headers = sorted(root.glob("*.hea")) or sorted(root.glob("records/*.hea"))
    if not headers:
        return None
    text = next((t for t in map(_header_text, headers) if t), "")
    if "<diagnoses>" in text:
        return "ludb"
    if re.search(r"^#\s*Dx\s*:", text, flags=re.MULTILINE):
        return "challenge"
    return "folder"
