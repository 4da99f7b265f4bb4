"""`manage.py create_demo_study`: a launched study over the pool, two demo readers."""

import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ecgstudy.pool.models import EcgRecord, Origin, Rhythm
from ecgstudy.studies.models import CaseQuota, Participation, Reader, Study
from ecgstudy.studies.services import participation_create, reader_create, study_launch

DEMO_NAME = "Demo: real or synthetic?"
DEMO_READERS = (
    ("reader1", "Demo Site A", "cardiologist"),
    ("reader2", "Demo Site B", "resident"),
)
INSTRUCTIONS = (
    "Each ECG is either a recording of a patient or was made by a generative model. "
    "Say which you think it is and how sure you are, then give the rhythm and the "
    "signal quality.\n\n"
    "Take the time you would take in the clinic; you can stop and continue later."
)


class Command(BaseCommand):
    help = (
        "Create and launch a demo study over the pool (real and synthetic AF and SR "
        "ECGs), add two demo readers and print their logins. Run again, it reuses "
        "the study and resets the readers' passwords."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--per-group",
            type=int,
            default=5,
            help="ECGs per origin and rhythm (AF, SR) at most (default: %(default)s).",
        )
        parser.add_argument("--seed", type=int, default=2024)

    def handle(self, *args, per_group: int, seed: int, **options):
        if per_group < 1:
            raise CommandError("--per-group must be at least 1")
        study = Study.objects.filter(name=DEMO_NAME).first()
        with transaction.atomic():
            if study is None:
                study = self._create_study(per_group, seed)
            passwords = self._readers(study)
            if study.is_draft:
                try:
                    study = study_launch(study=study)
                except ValidationError as exc:
                    raise CommandError("; ".join(exc.messages)) from None
        real, synthetic = (
            sum(q.count for q in study.quotas.all() if q.origin == origin)
            for origin in (Origin.REAL, Origin.SYNTHETIC)
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"\nStudy “{study.name}” is {study.get_status_display().lower()}: "
                f"{real} real + {synthetic} synthetic ECGs."
            )
        )
        for username, password in passwords:
            self.stdout.write(
                self.style.SUCCESS(f"Reader '{username}', password: {password}")
            )
        self.stdout.write(
            "Readers sign in at http://127.0.0.1:8000/accounts/login/; the study's "
            f"progress is at /admin/studies/study/{study.pk}/progress/."
        )

    def _create_study(self, per_group: int, seed: int) -> Study:
        study = Study.objects.create(
            name=DEMO_NAME,
            instructions=INSTRUCTIONS,
            seed=seed,
            repeat_fraction=0.2,
            practice_cases=0,
            reveal_ratio=True,
        )
        for origin in (Origin.REAL, Origin.SYNTHETIC):
            for rhythm in (Rhythm.AF, Rhythm.SR):
                available = (
                    EcgRecord.objects.filter(origin=origin, rhythm=rhythm)
                    .exclude(sheet="")
                    .count()
                )
                if available:
                    CaseQuota.objects.create(
                        study=study,
                        origin=origin,
                        rhythm=rhythm,
                        count=min(per_group, available),
                    )
        origins = set(study.quotas.values_list("origin", flat=True))
        if origins != {Origin.REAL, Origin.SYNTHETIC}:
            raise CommandError(
                "the pool needs real and synthetic AF or SR ECGs with sheets: run "
                "`manage.py setup_demo` (or import_ecgs and generate_pool) first"
            )
        return study

    def _readers(self, study: Study) -> list[tuple[str, str]]:
        passwords = []
        for username, site, experience in DEMO_READERS:
            password = secrets.token_urlsafe(9)
            reader = Reader.objects.filter(user__username=username).first()
            if reader is None:
                reader = reader_create(
                    username=username,
                    site=site,
                    experience=experience,
                    password=password,
                )
            else:
                reader.user.set_password(password)
                reader.user.save(update_fields=["password"])
            if not Participation.objects.filter(study=study, reader=reader).exists():
                participation_create(study=study, reader=reader)
            passwords.append((username, password))
        return passwords
