"""`manage.py evaluate_generator CHECKPOINT`: judge a checkpoint, keep the figures."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ecgstudy.pool.services import generator_evaluation_run
from generator.evaluate import DEFAULT_LABELS, parse_label_sets


class Command(BaseCommand):
    help = (
        "Generate ECGs from a checkpoint and evaluate them against the real ECGs of "
        "an index.csv folder (fidelity, label consistency, memorisation, TSTR/TRTS "
        "utility, two-sample test); store the results for the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("checkpoint", type=Path)
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
        try:
            label_sets = parse_label_sets(options["labels"])
            evaluation = generator_evaluation_run(
                checkpoint=checkpoint,
                data_dir=data,
                split=options["split"],
                label_sets=label_sets,
                n_per_label=options["n_per_label"],
                steps=options["steps"],
                seed=options["seed"],
                n_boot=options["bootstrap"],
                device=settings.GENERATOR_DEVICE,
                progress=lambda message: self.stdout.write(message),
            )
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
