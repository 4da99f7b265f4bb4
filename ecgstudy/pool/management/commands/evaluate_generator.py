"""`manage.py evaluate_generator CHECKPOINT` or `--source NAME`: judge a generator,
keep the figures."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ecgstudy.pool.models import SyntheticSource
from ecgstudy.pool.services import (
    generator_evaluation_of_source,
    generator_evaluation_run,
)
from generator.evaluate import DEFAULT_LABELS, parse_label_sets


class Command(BaseCommand):
    help = (
        "Generate ECGs from a checkpoint (or take a synthetic source's ECGs in the "
        "pool, e.g. a set imported with import_synthetic) and evaluate them against "
        "the real ECGs of an index.csv folder (fidelity, label consistency, "
        "memorisation, TSTR/TRTS utility, two-sample test); store the results for "
        "the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("checkpoint", type=Path, nargs="?")
        parser.add_argument(
            "--source",
            help="Evaluate the pool's ECGs of this synthetic source (its name, or "
            "'NAME VERSION' as the admin lists it) instead of a checkpoint.",
        )
        parser.add_argument("--data", type=Path, help="Default: ECG_DATA_DIR.")
        parser.add_argument("--split", default="test", choices=["test", "val"])
        parser.add_argument(
            "--labels",
            default=DEFAULT_LABELS,
            help="Label sets to generate (default: %(default)s).",
        )
        parser.add_argument("--n-per-label", type=int, default=50)
        parser.add_argument("--steps", type=int, default=50, help="DDIM steps.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--bootstrap", type=int, default=1000)

    def handle(self, *args, checkpoint: Path, **options):
        data = Path(options["data"] or settings.ECG_DATA_DIR)
        if not (data / "index.csv").is_file():
            raise CommandError(f"no index.csv in {data}: give --data")
        if options["n_per_label"] < 2:
            raise CommandError("--n-per-label must be at least 2")
        if (checkpoint is None) == (options["source"] is None):
            raise CommandError("give either a checkpoint or --source NAME")
        try:
            if options["source"] is not None:
                evaluation = generator_evaluation_of_source(
                    source=self._source(options["source"]),
                    data_dir=data,
                    split=options["split"],
                    seed=options["seed"],
                    n_boot=options["bootstrap"],
                    progress=lambda message: self.stdout.write(message),
                )
            else:
                evaluation = self._checkpoint(checkpoint, data, options)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        headline = evaluation.headline
        self.stdout.write(
            self.style.SUCCESS(
                f"{evaluation} stored in {evaluation.seconds:.0f} s: "
                f"two-sample AUC {headline.get('two_sample_auc')}, "
                f"memorised {headline.get('memorised')}, "
                f"AF TSTR F1 {headline.get('tstr_af_f1')} "
                f"({headline.get('n_af_test')} real AF)."
            )
        )

    @staticmethod
    def _source(name: str) -> SyntheticSource:
        matches = [
            source
            for source in SyntheticSource.objects.all()
            if name in (source.name, source.label, f"{source.name} {source.version}")
        ]
        if len(matches) != 1:
            known = ", ".join(s.label for s in SyntheticSource.objects.all()) or "none"
            what = "no" if not matches else "more than one"
            raise ValueError(f"{what} synthetic source named {name!r}; known: {known}")
        return matches[0]

    def _checkpoint(self, checkpoint: Path, data: Path, options):
        return generator_evaluation_run(
            checkpoint=checkpoint,
            data_dir=data,
            split=options["split"],
            label_sets=parse_label_sets(options["labels"]),
            n_per_label=options["n_per_label"],
            steps=options["steps"],
            seed=options["seed"],
            n_boot=options["bootstrap"],
            device=settings.GENERATOR_DEVICE,
            progress=lambda message: self.stdout.write(message),
        )
