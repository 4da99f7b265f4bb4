"""The case page as a reader receives it: for the case view and the blinding audit."""

from __future__ import annotations

import json
from functools import lru_cache

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from ecgstudy.pool import render
from ecgstudy.pool.models import EcgRecord
from ecgstudy.pool.selectors import record_signal
from ecgstudy.studies.forms import GAINS_MM_MV, JudgmentForm
from ecgstudy.studies.models import SheetLayout, Study

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


def case_page_context(
    *,
    study: Study,
    token: str,
    counter,
    sheet: bytes,
    form: JudgmentForm,
    waveform: str = "",
    fs: float = 0,
) -> dict:
    """Everything the case template shows: only the sheet, the waveform, the
    token and the counter differ from one case of a study to the next."""
    return {
        "waveform": waveform,
        "waveform_fs": f"{fs:g}" if waveform else "",
        "study": study,
        "token": token,
        "counter": counter,
        # The sheet is our own renderer's output, never user input.
        "sheet": mark_safe(sheet.decode()),
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
    sheet: bytes,
    waveform: str = "",
    fs: float = 0,
) -> bytes:
    """The page of a case as first served, before any answer: its exact bytes."""
    context = case_page_context(
        study=study,
        token=token,
        counter=counter,
        sheet=sheet,
        form=JudgmentForm(study=study),
        waveform=waveform,
        fs=fs,
    )
    return render_to_string(CASE_TEMPLATE, context, request).encode()
