"""The pool app."""

from django.apps import AppConfig


class PoolConfig(AppConfig):
    name = "ecgstudy.pool"
    verbose_name = "ECG pool"
