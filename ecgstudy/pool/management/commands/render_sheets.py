"""`manage.py render_sheets`: render the 12-lead sheets that are missing (or all)."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from ecgstudy.pool.models import EcgRecord
from ecgstudy.pool.selectors import records_without_sheet
from ecgstudy.pool.services import record_render_sheet


class Command(BaseCommand):
    help = "Render and cache the 12-lead sheet of every record that has none."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Re-render every record's sheet."
        )

    def handle(self, *args, force: bool, **opts):
        records = EcgRecord.objects.all() if force else records_without_sheet()
        count = 0
        for record in tqdm(records.iterator(), total=records.count(), unit="sheet"):
            record_render_sheet(record=record)
            count += 1
        self.stdout.write(f"rendered {count} sheet(s)")
