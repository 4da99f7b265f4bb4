"""`manage.py create_demo_study`: a launched study over the pool, two demo readers.

With ``--arms`` the study has three arms: real ECGs, the demo checkpoint's and
SSSD-ECG's published samples (imported with ``import_synthetic`` from their
folder; nothing derived from them is kept outside the pool).
"""

import csv
import secrets
import tempfile
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count, Q

from ecgstudy.pool.models import EcgRecord, Origin, Rhythm, SyntheticSource
from ecgstudy.studies.models import CaseQuota, Participation, Reader, Study
from ecgstudy.studies.services import participation_create, reader_create, study_launch

DEMO_NAME = "Demo: real or synthetic?"
ARMS_NAME = "Demo: three generators"
SSSD_NAME, SSSD_VERSION = "SSSD-ECG", "2023"
SSSD_CITATION = (
    "Alcaraz JML, Strodthoff N. Diffusion-based conditional ECG generation with "
    "structured state space models. Comput Biol Med 163:107115 (2023). Samples "
    "from AI4HealthUOL/SSSD-ECG, clinical evaluation (MIT licence)."
)
# The published arrays' lead order (their SOURCE.md).
SSSD_LEADS = "I,II,V1,V2,V3,V4,V5,V6,III,aVR,aVL,aVF"
SSSD_FS = 100
# PTB-XL rhythm statements in the published label codes -> the pool's rhythms.
PTBXL_RHYTHMS = {
    "SR": Rhythm.SR,
    "AFIB": Rhythm.AF,
    "AFLT": Rhythm.AFL,
    "SBRAD": Rhythm.SB,
    "STACH": Rhythm.STACH,
    "SARRH": Rhythm.SA,
    "PACE": Rhythm.PACED,
}


def default_sssd_folder() -> Path:
    """SSSD-ECG's published samples beside the repository, as the shared
    anchors hold them."""
    return Path(settings.BASE_DIR).parent / "shared" / "anchors" / "sssd-ecg"


def _rhythm(codes: str) -> str:
    found = [PTBXL_RHYTHMS[c] for c in codes.split("_") if c in PTBXL_RHYTHMS]
    return found[0] if found else Rhythm.OTHER


def sssd_import_files(folder: Path, work: Path) -> tuple[Path, Path]:
    """The array of SSSD-ECG's samples to import and its labels CSV, the CSV
    written into ``work`` from the published metadata.

    The 22 trial samples (``samples_synthetic_22.npy``) take their labels from
    the synthetic rows of ``metadata_results.csv`` in trial order; without them
    the one published normal sample (``sample_sssd_norm.npy``, normal sinus
    rhythm) is stacked into a one-ECG array in ``work``.
    """
    trials = folder / "samples_synthetic_22.npy"
    labels = work / "sssd-ecg-labels.csv"
    rows = []
    if trials.is_file():
        with (folder / "metadata_results.csv").open(newline="") as handle:
            synthetic = [
                row
                for row in csv.DictReader(handle)
                if row["y_true_synthetic"].strip() == "True"
            ]
        synthetic.sort(key=lambda row: int(row["trials"]))
        for index, row in enumerate(synthetic):
            codes = row["lbl_codes"]
            rows.append(
                {
                    "record": index,
                    "labels": "; ".join(
                        part.strip() for part in row["lbls"].split(",") if part.strip()
                    ),
                    "rhythm": _rhythm(codes),
                    "normal": "true" if "NORM" in codes.split("_") else "false",
                }
            )
        array = trials
    else:
        single = np.load(folder / "sample_sssd_norm.npy")  # (12, 1000)
        array = work / "sssd-ecg-normal.npy"
        np.save(array, single[None])  # (1, 12, 1000)
        rows.append(
            {
                "record": 0,
                "labels": "normal; sinus rhythm",
                "rhythm": Rhythm.SR,
                "normal": "true",
            }
        )
    with labels.open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["record", "labels", "rhythm", "normal"]
        )
        writer.writeheader()
        writer.writerows(rows)
    return array, labels


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


def add_rows(study: Study, per_group: int, origin: str, **source) -> None:
    """Case-mix rows of ``origin`` (and ``source``, e.g. synthetic_source=...) for
    AF and SR, each of up to ``per_group`` ECGs, as many as the pool has sheets."""
    for rhythm in (Rhythm.AF, Rhythm.SR):
        available = (
            EcgRecord.objects.filter(origin=origin, rhythm=rhythm, **source)
            .exclude(sheet="")
            .count()
        )
        if available:
            CaseQuota.objects.create(
                study=study,
                origin=origin,
                rhythm=rhythm,
                count=min(per_group, available),
                **source,
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
        parser.add_argument(
            "--arms",
            action="store_true",
            help=f"Make the study “{ARMS_NAME}” of three arms instead: real ECGs, "
            "the demo checkpoint's, and SSSD-ECG's published samples (imported "
            "from --sssd-dir; the arm is left out with a message if the folder is "
            "absent).",
        )
        parser.add_argument(
            "--sssd-dir",
            type=Path,
            help="With --arms: the folder of SSSD-ECG's published samples "
            "(metadata_results.csv, samples_synthetic_22.npy or "
            "sample_sssd_norm.npy); default ../shared/anchors/sssd-ecg.",
        )

    def handle(self, *args, per_group: int, seed: int, arms: bool, sssd_dir, **options):
        if per_group < 1:
            raise CommandError("--per-group must be at least 1")
        name = ARMS_NAME if arms else DEMO_NAME
        study = Study.objects.filter(name=name).first()
        if arms and study is None:
            self._import_sssd(sssd_dir or default_sssd_folder())
        with transaction.atomic():
            if study is None:
                study = (
                    self._create_arms_study(per_group, seed)
                    if arms
                    else self._create_study(per_group, seed)
                )
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
            add_rows(study, per_group, origin)
        origins = set(study.quotas.values_list("origin", flat=True))
        if origins != {Origin.REAL, Origin.SYNTHETIC}:
            raise CommandError(
                "the pool needs real and synthetic AF or SR ECGs with sheets: run "
                "`manage.py setup_demo` (or import_ecgs and generate_pool) first"
            )
        return study

    def _import_sssd(self, folder: Path) -> None:
        """SSSD-ECG's published samples into the pool (already filed ones are
        skipped), or a message why the arm is left out."""
        if not (folder / "metadata_results.csv").is_file():
            self.stdout.write(
                self.style.WARNING(
                    f"SSSD-ECG's published samples are not at {folder}: the study "
                    "gets two arms (real, the demo checkpoint). Give their folder "
                    "with --sssd-dir for the third."
                )
            )
            return
        if not (folder / "samples_synthetic_22.npy").is_file():
            self.stdout.write(
                self.style.WARNING(
                    f"{folder} lacks samples_synthetic_22.npy: importing the one "
                    "published normal sample (sample_sssd_norm.npy) only."
                )
            )
        with tempfile.TemporaryDirectory(prefix="sssd-ecg-") as work:
            array, labels = sssd_import_files(folder, Path(work))
            call_command(
                "import_synthetic",
                str(array),
                name=SSSD_NAME,
                version=SSSD_VERSION,
                citation=SSSD_CITATION,
                labels=str(labels),
                lead_order=SSSD_LEADS,
                fs=SSSD_FS,
                stdout=self.stdout,
            )

    def _create_arms_study(self, per_group: int, seed: int) -> Study:
        """Real AF and SR ECGs, and as many of each generator's as the pool has
        (up to ``per_group`` per rhythm): the checkpoint with the most ECGs with
        sheets, and SSSD-ECG's samples."""
        with_sheet = Q(records__sheet__gt="")
        checkpoint = (
            SyntheticSource.objects.filter(kind=SyntheticSource.Kind.CHECKPOINT)
            .annotate(n=Count("records", filter=with_sheet))
            .filter(n__gt=0)
            .order_by("-n", "pk")
            .first()
        )
        if checkpoint is None:
            raise CommandError(
                "the pool has no ECGs of a generator checkpoint: run `manage.py "
                "setup_demo` (or generate_pool) first"
            )
        sssd = SyntheticSource.objects.filter(
            name=SSSD_NAME, version=SSSD_VERSION
        ).first()
        study = Study.objects.create(
            name=ARMS_NAME,
            instructions=INSTRUCTIONS,
            seed=seed,
            repeat_fraction=0.0,
            practice_cases=0,
            reveal_ratio=False,
        )
        arms = [(Origin.REAL, None), (Origin.SYNTHETIC, checkpoint)]
        arms += [(Origin.SYNTHETIC, sssd)] if sssd is not None else []
        for origin, source in arms:
            add_rows(study, per_group, origin, synthetic_source=source)
        if not study.quotas.filter(origin=Origin.REAL).exists():
            raise CommandError(
                "the pool needs real AF or SR ECGs with sheets: run `manage.py "
                "setup_demo` (or import_ecgs) first"
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
