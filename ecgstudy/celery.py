"""Celery application; without a broker every task runs in-process (see settings)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecgstudy.settings")

app = Celery("ecgstudy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
