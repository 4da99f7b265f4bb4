"""The studies app."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate

RESEARCHERS_GROUP = "Researchers"
RESEARCH_APPS = ("pool", "studies")


def ensure_researchers_group(using: str = "default", **kwargs) -> None:
    """Staff in the "Researchers" group run the pool and the studies in the admin.

    Runs after every migrate (and after a test database flush), once the
    permissions of the apps exist.
    """
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.using(using).get_or_create(name=RESEARCHERS_GROUP)
    group.permissions.add(
        *Permission.objects.using(using).filter(
            content_type__app_label__in=RESEARCH_APPS
        )
    )


class StudiesConfig(AppConfig):
    name = "ecgstudy.studies"
    verbose_name = "Studies"

    def ready(self) -> None:
        # After auth's own handler has created the permissions: connect to the
        # last app's signal, which Django sends after those of earlier apps.
        post_migrate.connect(ensure_researchers_group, sender=self)
