"""`manage.py setup_demo`: fill the pool, real and synthetic; create an admin."""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from ecgstudy.pool.models import GenerationJob
from generator.datasets import detect_format

NO_DATA_HELP = """\
No ECG data found at {path}.

The pool needs real 12-lead ECGs in WFDB format. PTB-XL is open access on PhysioNet
(21,799 ten-second ECGs, CC BY 4.0):

    https://physionet.org/content/ptb-xl/1.0.3/
    wget -r -N -c -np https://physionet.org/files/ptb-xl/1.0.3/

Then point ECG_DATA_DIR at the folder that holds ptbxl_database.csv, e.g.

    ECG_DATA_DIR=/data/ptb-xl-1.0.3 make demo

or import it yourself: manage.py import_ecgs /data/ptb-xl-1.0.3 --format ptbxl
The admin is served without ECGs in the meantime.
"""


class Command(BaseCommand):
    help = (
        "Import every dataset found under ECG_DATA_DIR (or --data) in its own layout, "
        "generate a first synthetic pool with GENERATOR_CHECKPOINT, then create or "
        "reset the 'admin' account and print its password."
    )

    def add_arguments(self, parser):
        parser.add_argument("--data", type=Path, help="Default: ECG_DATA_DIR.")
        parser.add_argument(
            "--synthetic",
            default="AF=10,SR=10",
            help="Synthetic ECGs per label when the pool has none yet; '' for none "
            "(default: %(default)s).",
        )
        parser.add_argument("--username", default="admin")

    def handle(self, *args, data: Path | None, synthetic: str, username: str, **opts):
        root = Path(data or settings.ECG_DATA_DIR)
        folders = self._dataset_folders(root)
        if not folders:
            self.stdout.write(self.style.WARNING(NO_DATA_HELP.format(path=root)))
        for folder, fmt in folders:
            call_command("import_ecgs", str(folder), format=fmt, stdout=self.stdout)
        if synthetic and not GenerationJob.objects.exists():
            # The demo checkpoint was trained on an index.csv folder like this
            # one and the folders of GENERATOR_LEARNT_FROM: keep its synthetic
            # ECGs away from those training patients.
            reference = root if (root / "index.csv").is_file() else None
            learnt = [
                Path(folder)
                for folder in settings.GENERATOR_LEARNT_FROM
                if reference and Path(folder).is_dir()
            ]
            call_command(
                "generate_pool",
                checkpoint=settings.GENERATOR_CHECKPOINT,
                per_label=synthetic,
                privacy_reference=reference,
                privacy_learnt_from=learnt,
                stdout=self.stdout,
            )
        self._admin_account(username)

    def _dataset_folders(self, root: Path) -> list[tuple[Path, str]]:
        if not root.is_dir():
            return []
        fmt = detect_format(root)
        if fmt:
            return [(root, fmt)]
        found = []
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            fmt = detect_format(child)
            if fmt:
                found.append((child, fmt))
        return found

    def _admin_account(self, username: str) -> None:
        password = secrets.token_urlsafe(12)
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        action = "created" if created else "password reset for"
        self.stdout.write(
            self.style.SUCCESS(
                f"\nAdmin account {action} '{username}', password: {password}\n"
                "Open http://127.0.0.1:8000/admin/ and sign in."
            )
        )
