"""`manage.py import_synthetic PATH --name NAME`: a synthetic set into the pool."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ecgstudy.pool.management.commands.import_ecgs import write_details
from ecgstudy.pool.services import synthetic_import


class Command(BaseCommand):
    help = (
        "File a set of synthetic ECGs (a folder of WFDB records, or an .npy/.npz "
        "array with a labels CSV) in the pool as synthetic, with its source, in the "
        "canonical form and with the sheets of every other record."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version is the set's version here; it replaces Django's own option.
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument(
            "path",
            type=Path,
            help="A folder of WFDB records, or an .npy (n, 12, samples) or .npz "
            "(its 'signals' array) in millivolts.",
        )
        parser.add_argument(
            "--name", required=True, help="The generator, e.g. SSSD-ECG."
        )
        parser.add_argument("--version", default="", help="e.g. 2023 or v1.2.")
        parser.add_argument("--citation", default="", help="Where it is published.")
        parser.add_argument(
            "--checkpoint-sha256",
            default="",
            help="SHA-256 of the checkpoint that made the ECGs, where known.",
        )
        parser.add_argument(
            "--labels",
            type=Path,
            help="CSV with a 'record' column (an array's 0-based index, or a "
            "folder's record name) and 'labels' (separated by ;) and/or 'rhythm'; "
            "optional normal, age, sex. Needed for an array file, and for records "
            "of a folder whose headers carry no '# Dx:' codes.",
        )
        parser.add_argument(
            "--lead-order",
            help="Array files: the leads in the order stored, comma-separated "
            "(default I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6). A folder's "
            "headers name their leads.",
        )
        parser.add_argument(
            "--fs",
            type=float,
            help="Array files: their sampling rate in Hz (at least the pool's). "
            "A folder's headers give their rate.",
        )

    def handle(self, *args, path: Path, lead_order, **options):
        leads = None
        if lead_order is not None:
            leads = [lead.strip() for lead in lead_order.split(",") if lead.strip()]
        with tqdm(desc=f"import {path.name}", unit="ecg", disable=None) as bar:
            try:
                source, summary = synthetic_import(
                    path=path,
                    name=options["name"],
                    version=options["version"],
                    citation=options["citation"],
                    checkpoint_sha256=options["checkpoint_sha256"],
                    labels_csv=options["labels"],
                    lead_order=leads,
                    fs=options["fs"],
                    on_record=lambda _: bar.update(),
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        what = f"as {source.label}" if source is not None else "(no source kept)"
        self.stdout.write(
            f"{path}: imported {summary.imported} synthetic ECGs {what}, "
            f"skipped {len(summary.skipped)}, failed {len(summary.failed)}"
        )
        write_details(self.stdout.write, summary)
