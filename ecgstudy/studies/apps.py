"""The studies app."""

from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "ecgstudy.studies"
    verbose_name = "Studies"
