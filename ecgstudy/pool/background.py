"""Generation jobs in a background thread of the server, for when there is no broker.

Without a Celery broker, the admin's "Generate" must not make the researcher's
request wait for the ECGs. Each server process keeps one daemon thread that runs
the jobs handed to it one at a time, in the order given, through the same
services a Celery worker calls; the job's page follows its progress from the
database. The thread opens its own database connection and closes it after each
job.

A job left queued or running by a process that stopped is marked failed: at a
normal exit by that process itself, after a crash by the first process that
notices it has shown no sign of life for ``GENERATION_STALE_MINUTES``. Resuming
it writes only the ECGs still missing.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from datetime import timedelta

from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)


class GenerationRunner:
    """A queue of job ids and the one thread that works through it."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pending: set[int] = set()  # queued or running in this process
        self._thread: threading.Thread | None = None

    def submit(self, job_id: int) -> bool:
        """Queue a job; False if this process already has it queued or running."""
        with self._lock:
            if job_id in self._pending:
                return False
            self._pending.add(job_id)
            if self._thread is None or not self._thread.is_alive():
                if self._thread is None:
                    atexit.register(self._abandon_pending)
                self._thread = threading.Thread(
                    target=self._work, name="generation-runner", daemon=True
                )
                self._thread.start()
        self._jobs.put(job_id)
        return True

    def pending(self) -> set[int]:
        """Ids of the jobs this process has queued or is running."""
        with self._lock:
            return set(self._pending)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every submitted job has ended; False if time ran out."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending, timeout)

    def _work(self) -> None:
        from ecgstudy.pool.services import generation_job_run_queued

        while True:
            job_id = self._jobs.get()
            close_old_connections()
            try:
                generation_job_run_queued(job_id=job_id)
            finally:
                connections.close_all()
                with self._changed:
                    self._pending.discard(job_id)
                    self._changed.notify_all()

    def _abandon_pending(self) -> None:
        """At exit, mark the jobs this process will not finish as failed, so that
        their pages say so at once instead of after the stale timeout."""
        from ecgstudy.pool.services import generation_jobs_fail

        left = self.pending()
        if not left:
            return
        try:
            generation_jobs_fail(
                job_ids=left,
                reason="the server stopped before the job finished. The ECGs "
                "written are kept; resume the job with the action 'Start or "
                "resume the selected jobs'.",
            )
        except Exception:
            logger.exception("generation jobs %s: not marked failed at exit", left)


runner = GenerationRunner()


def fail_stale_jobs() -> int:
    """With the thread runner, mark failed the jobs a stopped process left behind.

    Does nothing with the Celery runner, whose queue may rightly hold a job for
    longer than the timeout and which hands a dead worker's chunks to another.
    """
    from django.conf import settings

    from ecgstudy.pool.services import generation_jobs_fail_stale

    if settings.GENERATION_RUNNER != "thread":
        return 0
    return generation_jobs_fail_stale(
        stale_after=timedelta(minutes=settings.GENERATION_STALE_MINUTES),
        keep=runner.pending(),
    )
