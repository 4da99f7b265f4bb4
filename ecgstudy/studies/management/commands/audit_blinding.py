"""`manage.py audit_blinding STUDY`: how well the bytes readers receive tell origin."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ecgstudy.studies.selectors import study_by_key, study_keys_text
from ecgstudy.studies.services import study_audit_blinding


class Command(BaseCommand):
    help = (
        "Run the blinding audit of a study: render every ECG its case mix can draw "
        "in the case page as readers receive it, and report how well each origin "
        "cue of those bytes, and a classifier on all of them, tells real from "
        "synthetic. The audit is stored with the study."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="The study's number or its exact name.")

    def handle(self, *args, study: str, **options):
        found = study_by_key(study)
        if found is None:
            raise CommandError(f"no study {study!r}; studies are: {study_keys_text()}")
        with tqdm(desc="pages", unit="ECG", disable=None) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            try:
                audit = study_audit_blinding(study=found, progress=progress)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
        result = audit.result
        self.stdout.write(
            f"Blinding audit of “{found}”: {audit.n_real} real and "
            f"{audit.n_synthetic} synthetic ECGs (AUC: synthetic = positive, 0.5 is "
            "chance; 95% DeLong intervals)"
        )
        width = max(len(cue["description"]) for cue in result["cues"])
        for cue in result["cues"]:
            auc = cue["auc"]
            flag = "" if auc["covers_chance"] else "  *"
            self.stdout.write(
                f"  {cue['description']:<{width}}  {cue['kind']:<12} "
                f"real {cue['real_median']:>10.4g}  synthetic "
                f"{cue['synthetic_median']:>10.4g}  AUC {auc['auc']:.3f} "
                f"[{auc['low']:.3f}, {auc['high']:.3f}]{flag}"
            )
        for group, auc in result["classifiers"].items():
            cues = "all the cues" if group == "all" else f"the {group} cues"
            self.stdout.write(
                f"  a classifier on {cues} (cross-validated): AUC {auc['auc']:.3f} "
                f"[{auc['low']:.3f}, {auc['high']:.3f}]"
            )
        if audit.passed:
            self.stdout.write(
                self.style.SUCCESS(
                    "passed: no construction cue tells the origin beyond the "
                    f"threshold ({result['threshold']})"
                )
            )
        else:
            self.stdout.write(self.style.WARNING("warnings:"))
            for warning in result["warnings"]:
                self.stdout.write(self.style.WARNING(f"  {warning}"))
