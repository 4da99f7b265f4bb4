"""The analysis app."""

from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "ecgstudy.analysis"
    verbose_name = "Analysis"
