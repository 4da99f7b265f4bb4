"""Requests that no view should see: a NUL character anywhere in what is sent."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

NUL = "\x00"


def _holds_nul(texts: Iterable[str]) -> bool:
    return any(NUL in text for text in texts)


def request_holds_nul(request: HttpRequest) -> bool:
    """Whether the path, a query or form field (name or value) or a cookie holds NUL."""
    fields = [request.GET]
    if request.method == "POST":
        # Only form bodies are parsed; anything else leaves request.POST empty.
        fields.append(request.POST)
    return (
        NUL in request.path
        or any(
            NUL in name or _holds_nul(values)
            for query in fields
            for name, values in query.lists()
        )
        or any(NUL in name or NUL in value for name, value in request.COOKIES.items())
    )


class RejectNulMiddleware:
    """Answer 400 Bad Request to a request that holds a NUL character.

    PostgreSQL cannot hold NUL in text: a query that carries one raises, so a case
    token, an admin filter or search, a form field or a session cookie with %00
    would end in a server error. No legitimate request has one, so none goes on.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request_holds_nul(request):
            return HttpResponseBadRequest(
                "A NUL character is not allowed in a request.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
