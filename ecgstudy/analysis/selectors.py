"""A study's answers read out of the database for the report and the exports."""

from __future__ import annotations

import numpy as np

from ecgstudy.analysis.designs import DesignTable
from ecgstudy.analysis.report import StudyInfo, StudyTable
from ecgstudy.studies.models import Design, Judgment, Study
from ecgstudy.studies.selectors import (
    PROVENANCE_FIELDS,
    record_provenance,
    study_case_arms,
    study_progress,
    study_ratio,
)

EXPORT_COLUMNS = [
    "study",
    "reader",
    "site",
    "experience",
    "case",
    "practice",
    "round",
    "position",
    "origin",
    "rhythm",
    "labels",
    # Traceability: which pool record, source and generation run the case shows.
    *PROVENANCE_FIELDS,
    "answer_origin",
    "confidence",
    "diagnosis",
    "quality",
    "comment",
    "served_at",
    "submitted_at",
    "seconds",
    # Designs: a paired page's real case and side and the side chosen as real;
    # a time-limited page's exposure.
    "paired_real_case",
    "real_side",
    "answer_choice",
    "exposure_ms",
]


def reader_pseudonyms(*, study: Study) -> dict[int, str]:
    """Participation id -> R01, R02, ... in the order readers joined the study.

    Reports and exports name readers only by these, so that a table can be shared.
    """
    ids = study.participations.order_by("pk").values_list("pk", flat=True)
    width = max(2, len(str(len(ids))))
    return {pk: f"R{number:0{width}d}" for number, pk in enumerate(ids, start=1)}


def _judgments(study: Study):
    return (
        Judgment.objects.filter(assignment__participation__study=study)
        .select_related(
            "assignment__participation__reader",
            "assignment__case__record__generation_job",
            "assignment__case__record__synthetic_source",
            "assignment__pair__real",
        )
        .order_by("assignment__participation_id", "assignment__position")
    )


def study_judgment_rows(
    *, study: Study, names: dict[int, str] | None = None
) -> list[dict]:
    """Every judgment of a study (practice included, flagged) as a tidy long row;
    ``names`` are the readers' pseudonyms if already read."""
    names = names if names is not None else reader_pseudonyms(study=study)
    rows = []
    for judgment in _judgments(study):
        assignment = judgment.assignment
        participation = assignment.participation
        record = assignment.case.record
        rows.append(
            {
                "study": study.name,
                "reader": names[participation.pk],
                "site": participation.reader.site,
                "experience": participation.reader.experience,
                "case": assignment.case.token,
                "practice": assignment.case.practice,
                "round": assignment.round,
                "position": assignment.position + 1,
                "origin": record.origin,
                "rhythm": record.rhythm,
                "labels": "; ".join(record.labels),
                **record_provenance(record=record),
                "answer_origin": judgment.origin,
                "confidence": judgment.confidence,
                "diagnosis": "+".join(judgment.diagnosis),
                "quality": judgment.quality,
                "comment": judgment.comment,
                "served_at": judgment.served_at.isoformat()
                if judgment.served_at
                else "",
                "submitted_at": judgment.submitted_at.isoformat(),
                "seconds": round(judgment.seconds, 3)
                if judgment.seconds is not None
                else None,
                "paired_real_case": assignment.pair.real.token
                if assignment.pair_id
                else "",
                "real_side": assignment.real_side,
                "answer_choice": judgment.choice,
                "exposure_ms": judgment.exposure_ms,
            }
        )
    return rows


def study_table(*, study: Study) -> tuple[StudyTable, StudyInfo]:
    """The counted judgments as the report's long table, and the study's facts."""
    names = reader_pseudonyms(study=study)
    option_order = {code: i for i, (code, _) in enumerate(study.diagnosis_options)}
    rows = [
        row
        for row in study_judgment_rows(study=study, names=names)
        if not row["practice"]
    ]

    def column(name, dtype=object):
        return np.array([row[name] for row in rows], dtype=dtype)

    def diagnosis(text: str) -> str:
        codes = sorted(text.split("+"), key=lambda c: option_order.get(c, 99))
        return "+".join(code for code in codes if code)

    table = StudyTable(
        reader=column("reader").astype(str),
        site=column("site").astype(str),
        experience=column("experience").astype(str),
        case=column("case").astype(str),
        round=column("round", int),
        synthetic=column("origin") == "synthetic",
        rhythm=column("rhythm").astype(str),
        answer=column("answer_origin").astype(str),
        confidence=np.array(
            [np.nan if r["confidence"] is None else r["confidence"] for r in rows],
            dtype=float,
        ),
        diagnosis=np.array([diagnosis(r["diagnosis"]) for r in rows], dtype=str),
        quality=column("quality").astype(str),
        seconds=np.array(
            [np.nan if r["seconds"] is None else r["seconds"] for r in rows],
            dtype=float,
        ),
        comment=column("comment").astype(str),
    )
    rows_by_reader, _ = study_progress(study=study)
    progress = [
        {
            "reader": names[row.participation.pk],
            "site": row.participation.reader.site,
            "experience": row.participation.reader.experience,
            "answered": row.progress.answered,
            "total": row.progress.total,
            "skipped": row.progress.skipped,
        }
        for row in sorted(rows_by_reader, key=lambda row: row.participation.pk)
    ]
    real, synthetic = study_ratio(study=study)
    tokens = dict(study.cases.values_list("pk", "token"))
    # A paired page asks none of these of one ECG (see ``analysis.designs``).
    one_sheet = study.design != Design.PAIRED_2AFC
    info = StudyInfo(
        name=study.name,
        status=study.get_status_display(),
        ask_origin=study.ask_origin and one_sheet,
        ask_confidence=study.ask_origin and study.ask_confidence and one_sheet,
        confidence_levels=study.confidence_levels,
        ask_diagnosis=study.ask_diagnosis and one_sheet,
        diagnosis_options=[list(option) for option in study.diagnosis_options],
        ask_quality=study.ask_quality and one_sheet,
        n_real=real,
        n_synthetic=synthetic,
        progress=progress,
        cases={
            row["case"]: {
                "labels": row["labels"],
                **{key: row[key] for key in PROVENANCE_FIELDS},
            }
            for row in rows
        },
        arms={tokens[pk]: arm for pk, arm in study_case_arms(study=study).items()},
    )
    return table, info


def study_design_table(*, study: Study) -> DesignTable | None:
    """A paired or time-limited study's counted first readings for
    ``analysis.designs``, and with the staircase the practice trials it adapted
    on; None for a study of one ECG at a time."""
    if study.design not in (Design.PAIRED_2AFC, Design.TIMED):
        return None
    staircase = study.design == Design.TIMED and study.staircase
    names = reader_pseudonyms(study=study)
    judgments = (
        Judgment.objects.filter(
            assignment__participation__study=study, assignment__round=1
        )
        .select_related("assignment__case__record")
        .order_by("assignment__participation_id", "assignment__position")
    )
    if not staircase:
        judgments = judgments.filter(assignment__case__practice=False)
    if study.design == Design.PAIRED_2AFC:
        judgments = judgments.exclude(choice="")
    else:
        judgments = judgments.exclude(origin="")
    rows = []
    for judgment in judgments:
        assignment = judgment.assignment
        if study.design == Design.PAIRED_2AFC:
            correct = judgment.choice == assignment.real_side
        else:
            correct = judgment.origin == assignment.case.record.origin
        rows.append(
            (
                names[assignment.participation_id],
                assignment.case.token,
                assignment.position,
                correct,
                np.nan if judgment.exposure_ms is None else judgment.exposure_ms,
                assignment.case.practice,
            )
        )
    reader, item, position, correct, exposure, practice = (
        zip(*rows, strict=True) if rows else ([],) * 6
    )
    return DesignTable(
        design=study.design,
        staircase=staircase,
        reader=np.array(reader, dtype=str),
        item=np.array(item, dtype=str),
        position=np.array(position, dtype=int),
        correct=np.array(correct, dtype=bool),
        exposure_ms=np.array(exposure, dtype=float),
        practice=np.array(practice, dtype=bool),
    )
