"""Locust readers for bench/bench_load.py: each signs in and answers every case.

Some answers are submitted twice (a double click) and some from two tabs at
the same instant; the benchmark then checks that each case has exactly one answer.
Request names: "sign in", "case page", "submit", "submit again", "submit (2 tabs)",
"floor" (a view that touches no database, the server's own floor).
"""

import itertools
import os
import re

import gevent
from locust import HttpUser, between, task
from locust.exception import StopUser

READERS = int(os.environ.get("LOAD_READERS", "50"))
STUDY = os.environ["LOAD_STUDY"]
PASSWORD = os.environ["LOAD_PASSWORD"]
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_numbers = itertools.count(1)
_finished = itertools.count(1)


def answer(csrf: str, n: int) -> dict:
    return {
        "csrfmiddlewaretoken": csrf,
        "origin": "synthetic" if n % 2 else "real",
        "confidence": str(1 + n % 5),
        "diagnosis": "AF" if n % 3 else "SR",
        "quality": "good",
        "comment": "",
    }


class Reader(HttpUser):
    wait_time = between(0, 0.05)

    def on_start(self):
        self.number = next(_numbers)
        page = self.client.get("/accounts/login/", name="sign in")
        csrf = CSRF.search(page.text).group(1)
        response = self.client.post(
            "/accounts/login/",
            {
                "csrfmiddlewaretoken": csrf,
                "username": f"loadreader{self.number:03d}",
                "password": PASSWORD,
            },
            name="sign in",
            allow_redirects=False,
        )
        if response.status_code != 302:
            raise RuntimeError(f"sign-in failed: {response.status_code}")
        self.answered = 0

    @task
    def read_one_case(self):
        self.client.get("/healthz/", name="floor")
        step = self.client.get(
            f"/studies/{STUDY}/continue/", name="continue", allow_redirects=False
        )
        location = step.headers.get("Location", "")
        if "/done/" in location:
            if next(_finished) >= READERS:
                self.environment.runner.quit()
            raise StopUser()
        page = self.client.get(location, name="case page")
        csrf = CSRF.search(page.text).group(1)
        form = answer(csrf, self.answered)
        self.answered += 1
        if self.answered % 7 == 0:
            # Two tabs submit the same case at the same moment.
            tabs = [
                gevent.spawn(
                    self.client.post,
                    location,
                    form,
                    name="submit (2 tabs)",
                    allow_redirects=False,
                )
                for _ in range(2)
            ]
            gevent.joinall(tabs)
            return
        self.client.post(location, form, name="submit", allow_redirects=False)
        if self.answered % 5 == 0:
            self.client.post(location, form, name="submit again", allow_redirects=False)
