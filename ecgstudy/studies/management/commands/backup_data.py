"""`manage.py backup_data FOLDER`: the database and the media folder, together."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ecgstudy.studies.backup import BackupError, backup, counts_text


class Command(BaseCommand):
    help = (
        "Back up the database (pg_dump, or a copy of the SQLite file) and the media "
        "folder (signals, sheets) into a new folder, with a manifest of its counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="A folder that does not exist.")

    def handle(self, *args, folder: Path, **options):
        try:
            manifest = backup(folder)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        counts = counts_text(manifest)
        self.stdout.write(self.style.SUCCESS(f"Backed up {counts} to {folder}"))
