"""ecgstudy: blinded physician studies of real and synthetic 12-lead ECGs."""

from ecgstudy.celery import app as celery_app

__all__ = ["celery_app"]
