"""The case page as a reader receives it: for the case view and the blinding audit."""

from __future__ import annotations

import json
from functools import lru_cache

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from ecgstudy.pool import render
from ecgstudy.studies.forms import JudgmentForm
from ecgstudy.studies.models import Study

CASE_TEMPLATE = "studies/case.html"
GAINS_MM_MV = (5, 10, 20)


@lru_cache(maxsize=1)
def viewer_json() -> str:
    """The sheet geometry the viewer needs for gain and calipers; the same for all."""
    return json.dumps(render.viewer_geometry() | {"gains": list(GAINS_MM_MV)})


def case_page_context(
    *, study: Study, token: str, counter, sheet: bytes, form: JudgmentForm
) -> dict:
    """Everything the case template shows: only the sheet, the token and the
    counter differ from one case of a study to the next."""
    return {
        "study": study,
        "token": token,
        "counter": counter,
        # The sheet is our own renderer's output, never user input.
        "sheet": mark_safe(sheet.decode()),
        "viewer_json": viewer_json(),
        "form": form,
    }


def page_request() -> HttpRequest:
    """A GET request like a reader's, to render case pages outside a real one."""
    request = HttpRequest()
    request.method = "GET"
    request.user = AnonymousUser()
    return request


def case_page_bytes(
    request: HttpRequest, *, study: Study, token: str, counter, sheet: bytes
) -> bytes:
    """The page of a case as first served, before any answer: its exact bytes."""
    context = case_page_context(
        study=study,
        token=token,
        counter=counter,
        sheet=sheet,
        form=JudgmentForm(study=study),
    )
    return render_to_string(CASE_TEMPLATE, context, request).encode()
