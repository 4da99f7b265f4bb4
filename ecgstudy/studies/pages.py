"""The case page as a reader receives it: for the case view and the blinding audit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from ecgstudy.pool import render
from ecgstudy.pool.models import EcgRecord
from ecgstudy.pool.selectors import record_signal
from ecgstudy.studies.forms import CHOICE_KEYS, GAINS_MM_MV, JudgmentForm
from ecgstudy.studies.models import Design, SheetLayout, Study

CASE_TEMPLATE = "studies/case.html"


@lru_cache(maxsize=8)
def viewer_json(
    layout: str = SheetLayout.STANDARD, may_change_layout: bool = False
) -> str:
    """The sheet geometry the viewer needs for gain, calipers and layouts: it
    depends on the study's settings alone, never on the case."""
    layouts = list(SheetLayout.values) if may_change_layout else [layout]
    return json.dumps(
        render.viewer_geometry()
        | {"gains": list(GAINS_MM_MV), "layout": str(layout), "layouts": layouts}
    )


def record_waveform(*, record: EcgRecord) -> str:
    """The record's waveform for the viewer's layouts (``render.waveform_text``);
    empty if its signal is not in storage, and the viewer keeps the sheet."""
    try:
        return render.waveform_text(record_signal(record=record), record.fs)
    except FileNotFoundError:
        return ""


@dataclass(frozen=True)
class PageSheet:
    """One sheet on a case page, with its waveform for the viewer."""

    svg: str
    waveform: str
    waveform_fs: str
    side: str = ""  # paired pages: "left" or "right"
    key: str = ""  # paired pages: the key that chooses this sheet


def page_sheet(
    sheet: bytes, waveform: str = "", fs: float = 0, *, side: str = ""
) -> PageSheet:
    """A sheet as the case template draws it."""
    return PageSheet(
        # The sheet is our own renderer's output, never user input.
        svg=mark_safe(sheet.decode()),
        waveform=waveform,
        waveform_fs=f"{fs:g}" if waveform else "",
        side=side,
        key=CHOICE_KEYS.get(side, ""),
    )


def case_page_context(
    *,
    study: Study,
    token: str,
    counter,
    form: JudgmentForm,
    sheet: bytes | None = None,
    waveform: str = "",
    fs: float = 0,
    sheets: list[PageSheet] | None = None,
    exposure_ms: int | None = None,
) -> dict:
    """Everything the case template shows: only the sheets, the waveforms, the
    token, the counter and (time-limited, staircase) the exposure differ from one
    case of a study to the next.

    ``sheet``, ``waveform`` and ``fs`` give a page its one sheet; ``sheets`` gives
    a paired page its two, or a time-limited page that already sent its sheet
    none (``[]``).
    """
    if sheets is None:
        sheets = [page_sheet(sheet, waveform, fs)] if sheet is not None else []
    return {
        "study": study,
        "token": token,
        "counter": counter,
        "sheets": sheets,
        "paired": study.design == Design.PAIRED_2AFC,
        "timed": study.design == Design.TIMED,
        "exposure_ms": exposure_ms,
        "viewer_json": viewer_json(study.layout, study.reader_may_change_layout),
        "form": form,
    }


def page_request() -> HttpRequest:
    """A GET request like a reader's, to render case pages outside a real one."""
    request = HttpRequest()
    request.method = "GET"
    request.user = AnonymousUser()
    return request


def case_page_bytes(
    request: HttpRequest,
    *,
    study: Study,
    token: str,
    counter,
    sheet: bytes | None = None,
    waveform: str = "",
    fs: float = 0,
    sheets: list[PageSheet] | None = None,
    exposure_ms: int | None = None,
) -> bytes:
    """The page of a case as first served, before any answer: its exact bytes.

    A time-limited study's page carries the study's first exposure unless told.
    """
    if exposure_ms is None and study.design == Design.TIMED:
        exposure_ms = study.exposure_ms
    context = case_page_context(
        study=study,
        token=token,
        counter=counter,
        sheet=sheet,
        form=JudgmentForm(study=study),
        waveform=waveform,
        fs=fs,
        sheets=sheets,
        exposure_ms=exposure_ms,
    )
    return render_to_string(CASE_TEMPLATE, context, request).encode()
