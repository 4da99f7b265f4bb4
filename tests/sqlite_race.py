"""Two tabs submit one case at the same instant, on a SQLite file database.

Run as a script (``python -m tests.sqlite_race DB_FILE MEDIA_DIR PAIRS``) so that
it gets a database of its own whatever DATABASE_URL the test suite runs on; prints
one JSON line: the two status codes of every pair and the answers stored.
"""

import json
import os
import sys
import threading

import django


def main(db_file: str, media: str, pairs: int) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{db_file}"
    os.environ["MEDIA_ROOT"] = media
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from ecgstudy.studies.models import Judgment
    from ecgstudy.studies.services import study_launch
    from tests.study_fixtures import make_pool, make_study

    call_command("migrate", verbosity=0)
    make_pool()
    study = study_launch(study=make_study(readers=1))
    participation = study.participations.get()
    user = participation.reader.user
    answer = {"origin": "real", "confidence": "3", "diagnosis": "AF", "quality": "good"}
    assignments = list(participation.assignments.order_by("position")[:pairs])
    connection.close()

    statuses: list[list[int]] = []
    for assignment in assignments:
        url = reverse("studies:case", args=[assignment.token])
        barrier = threading.Barrier(2)
        pair: list[int] = []

        def submit(url=url, barrier=barrier, pair=pair):
            tab = Client(raise_request_exception=False)
            tab.force_login(user)
            tab.get(url)
            barrier.wait()
            try:
                pair.append(tab.post(url, answer).status_code)
            finally:
                connection.close()

        threads = [threading.Thread(target=submit) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses.append(sorted(pair))
    stored = [
        Judgment.objects.filter(assignment=assignment).count()
        for assignment in assignments
    ]
    print(json.dumps({"statuses": statuses, "stored": stored}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
