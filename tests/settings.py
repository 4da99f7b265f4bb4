"""Settings for the test suite: the project's own, with a throwaway secret key.

The database and broker still come from DATABASE_URL and CELERY_BROKER_URL, so
CI runs every test against the real PostgreSQL and Redis.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-suite-only-not-a-secret")

from ecgstudy.settings import *  # noqa: E402,F403
from ecgstudy.settings import CELERY_BROKER_URL  # noqa: E402

# Tests call services directly; only the worker test sends tasks to the broker.
CELERY_TASK_ALWAYS_EAGER = True
# Jobs run inside the request, as eager tasks; the background-thread runner has
# its own tests (tests/pool/test_background_generation.py), which set it.
GENERATION_RUNNER = "celery"
BROKER_FOR_WORKER_TESTS = CELERY_BROKER_URL
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
