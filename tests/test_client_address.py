"""The sign-in limit counts each client behind the configured number of proxies."""

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from ecgstudy.client_address import client_address
from tests.factories import READER_PASSWORD, ReaderFactory

PROXY = "10.0.0.1"
ATTACKER = "203.0.113.5"
VICTIM = "192.0.2.7"


def _sign_in(client: Client, username: str, password: str, *, peer: str, xff=None):
    extra = {"REMOTE_ADDR": peer}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    response = client.post(
        reverse("login"), {"username": username, "password": password}, **extra
    )
    return response.status_code


def test_behind_one_proxy_a_guesser_locks_out_only_itself(db, settings):
    settings.PROXY_COUNT = 1
    username = ReaderFactory().user.username
    attacker = Client()
    # The attacker writes its own X-Forwarded-For; the proxy appends the real peer.
    statuses = [
        _sign_in(
            attacker, username, "wrong!", peer=PROXY, xff=f"198.51.100.{i}, {ATTACKER}"
        )
        for i in range(6)
    ]
    assert statuses == [200, 200, 200, 200, 429, 429]  # a new spoof changes nothing
    victim = _sign_in(Client(), username, READER_PASSWORD, peer=PROXY, xff=VICTIM)
    assert victim == 302
    # The same spoofed address, sent by another client, is that client's own.
    spoofer = _sign_in(
        Client(), username, READER_PASSWORD, peer=PROXY, xff=f"{ATTACKER}, {VICTIM}"
    )
    assert spoofer == 302


def test_without_a_proxy_forwarded_headers_are_ignored(db, settings):
    settings.PROXY_COUNT = 0
    username = ReaderFactory().user.username
    attacker = Client()
    statuses = [
        _sign_in(attacker, username, "wrong!", peer=ATTACKER, xff=f"198.51.100.{i}")
        for i in range(6)
    ]
    assert statuses == [200, 200, 200, 200, 429, 429]
    # Claiming another address in the header does not escape the lock...
    assert (
        _sign_in(Client(), username, READER_PASSWORD, peer=ATTACKER, xff=VICTIM) == 429
    )
    # ...and claiming the locked address does not lock out anyone else.
    assert (
        _sign_in(Client(), username, READER_PASSWORD, peer=VICTIM, xff=ATTACKER) == 302
    )


@pytest.mark.parametrize(
    ("proxies", "peer", "xff", "expected"),
    [
        (0, "192.0.2.1", "203.0.113.9", "192.0.2.1"),
        (1, PROXY, "203.0.113.9", "203.0.113.9"),
        (1, PROXY, "1.1.1.1, 203.0.113.9", "203.0.113.9"),
        (2, PROXY, "1.1.1.1, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (1, PROXY, "2001:db8::1", "2001:db8::1"),
        (1, PROXY, None, PROXY),  # a request that bypassed the proxy
        (2, PROXY, "203.0.113.9", PROXY),  # fewer hops than proxies
        (1, PROXY, "1.1.1.1, not-an-address", PROXY),
    ],
)
def test_the_client_is_the_nth_forwarded_entry_from_the_right(
    settings, proxies, peer, xff, expected
):
    settings.PROXY_COUNT = proxies
    extra = {"REMOTE_ADDR": peer}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    assert client_address(RequestFactory().get("/", **extra)) == expected
