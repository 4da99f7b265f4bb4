"""`manage.py restore_data FOLDER`: a backup into an empty database and media folder."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ecgstudy.studies.backup import BackupError, counts_text, restore


class Command(BaseCommand):
    help = (
        "Restore a folder written by backup_data into the (empty) database named by "
        "DATABASE_URL and the (empty) MEDIA_ROOT, then check the counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)

    def handle(self, *args, folder: Path, **options):
        try:
            manifest = restore(folder)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        counts = counts_text(manifest)
        self.stdout.write(self.style.SUCCESS(f"Restored {counts} from {folder}"))
