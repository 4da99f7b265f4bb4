"""`manage.py render_sheets`: render the 12-lead sheets that are missing (or all)."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from ecgstudy.pool.models import EcgRecord
from ecgstudy.pool.selectors import records_without_sheet
from ecgstudy.pool.services import record_rebuild_limb_leads, record_render_sheet


class Command(BaseCommand):
    help = "Render and cache the 12-lead sheet of every record that has none."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Re-render every record's sheet."
        )
        parser.add_argument(
            "--limb-leads",
            action="store_true",
            help="First give every record stored before one lead construction "
            "the canonical limb leads (II, III, aVR, aVL from I and aVF), as the "
            "blinding audit asks of a pool imported before it; implies --force.",
        )

    def handle(self, *args, force: bool, limb_leads: bool, **opts):
        everything = force or limb_leads
        records = EcgRecord.objects.all() if everything else records_without_sheet()
        rendered = rebuilt = 0
        for record in tqdm(records.iterator(), total=records.count(), unit="sheet"):
            # A rebuilt record's sheet is drawn anew with its signal.
            if limb_leads and record_rebuild_limb_leads(record=record):
                rebuilt += 1
            else:
                record_render_sheet(record=record)
            rendered += 1
        if limb_leads:
            self.stdout.write(f"rebuilt the limb leads of {rebuilt} record(s)")
        self.stdout.write(f"rendered {rendered} sheet(s)")
