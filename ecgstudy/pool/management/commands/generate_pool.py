"""`manage.py generate_pool`: synthetic ECGs from a checkpoint into the pool."""

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max
from tqdm import tqdm

from ecgstudy.pool.models import GenerationJob
from ecgstudy.pool.services import (
    generation_job_create,
    generation_job_queue,
    generation_job_run,
    parse_label_counts,
)


class Command(BaseCommand):
    help = (
        "Generate synthetic ECGs with a checkpoint, in chunks through Celery, into the "
        "pool: same canonical form and sheet as real ECGs, provenance kept. Without a "
        "broker the job runs here with a progress bar."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint",
            type=Path,
            help="Generator checkpoint (default: GENERATOR_CHECKPOINT).",
        )
        parser.add_argument(
            "--per-label",
            help="Counts per label, e.g. AF=50,SR=50; join labels with + "
            "(SR+NORM=20). Labels are the checkpoint's.",
        )
        parser.add_argument("--steps", type=int, default=50, help="Denoising steps.")
        parser.add_argument(
            "--sampler", choices=GenerationJob.Sampler.values, default="ddim"
        )
        parser.add_argument(
            "--guidance", type=float, default=1.0, help="1 = no guidance."
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=None,
            help="Seed of the job (default: a fresh random one, stored with the "
            "job and printed, so it reproduces).",
        )
        parser.add_argument(
            "--chunk", type=int, default=8, help="ECGs per Celery task."
        )
        parser.add_argument(
            "--privacy-reference",
            type=Path,
            default=None,
            metavar="DATA_DIR",
            help="The dataset folder (index.csv) the generator was trained on: an "
            "ECG closer to one of its training patients than any of its unseen "
            "(val and test) patients comes is drawn again, and the redraw is "
            "recorded.",
        )
        parser.add_argument(
            "--privacy-learnt-from",
            type=Path,
            action="append",
            default=[],
            metavar="FOLDER",
            help="Another folder the generator learnt from (its --shape-data or "
            "--voltage-data; repeatable): its patients join the privacy reference.",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="With a broker: follow the job's progress until it ends.",
        )
        parser.add_argument(
            "--resume",
            type=int,
            metavar="JOB",
            help="Resume a failed or cancelled job instead of starting a new one.",
        )

    def handle(self, *args, **opts):
        job = self._resume(opts["resume"]) if opts["resume"] else self._create(opts)
        if settings.CELERY_TASK_ALWAYS_EAGER:
            job = self._run_here(job)
        else:
            queued = generation_job_queue(job=job)
            self.stdout.write(
                f"{job}: {len(queued)} chunk(s) queued for the Celery workers"
            )
            if not opts["wait"]:
                self.stdout.write(
                    f"Follow it in the admin, or: manage.py generate_pool "
                    f"--resume {job.pk} --wait"
                )
                return
            job = self._follow(job)
        self._report(job)

    def _create(self, opts) -> GenerationJob:
        if not opts["per_label"]:
            raise CommandError("give --per-label, e.g. --per-label AF=50,SR=50")
        checkpoint = opts["checkpoint"] or Path(settings.GENERATOR_CHECKPOINT)
        try:
            return generation_job_create(
                checkpoint=checkpoint,
                plan=parse_label_counts(opts["per_label"]),
                sampler=opts["sampler"],
                steps=opts["steps"],
                guidance=opts["guidance"],
                seed=opts["seed"],
                chunk_size=opts["chunk"],
                privacy_reference=opts["privacy_reference"] or "",
                privacy_learnt_from=opts["privacy_learnt_from"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

    def _resume(self, job_id: int) -> GenerationJob:
        try:
            return GenerationJob.objects.get(pk=job_id)
        except GenerationJob.DoesNotExist:
            raise CommandError(f"no generation job {job_id}") from None

    def _run_here(self, job: GenerationJob) -> GenerationJob:
        with tqdm(
            total=job.total, initial=job.n_done, unit="ecg", desc=f"job {job.pk}"
        ) as bar:
            try:
                return generation_job_run(job=job, progress=bar.update)
            except Exception:
                job.refresh_from_db()
                return job

    def _follow(self, job: GenerationJob) -> GenerationJob:
        with tqdm(
            total=job.total, initial=job.n_done, unit="ecg", desc=f"job {job.pk}"
        ) as bar:
            while not job.is_finished:
                time.sleep(1.0)
                job.refresh_from_db()
                bar.update(job.n_done - bar.n)
        return job

    def _report(self, job: GenerationJob) -> None:
        seconds = (
            (job.finished_at - job.started_at).total_seconds()
            if job.finished_at and job.started_at
            else 0.0
        )
        made = ", ".join(
            f"{'+'.join(labels)}={job.records.filter(labels=labels).count()}"
            for labels, _ in job.plan
        )
        line = (
            f"{job}: {job.get_status_display().lower()}, {job.n_done}/{job.total} "
            f"synthetic ECGs ({made}) in {seconds:.1f} s, "
            f"{job.sampler} {job.steps} steps, guidance {job.guidance:g}, "
            f"seed {job.seed}, checkpoint {job.checkpoint_sha256[:12]}"
        )
        if job.privacy_reference:
            redrawn = job.records.filter(privacy_redraws__gt=0)
            closest = job.records.aggregate(Max("privacy_similarity"))
            line += (
                f"; privacy reference "
                f"{', '.join([job.privacy_reference, *job.privacy_learnt_from])}: "
                f"{redrawn.count()} ECG(s) redrawn for coming too close to a "
                "training patient, closest kept similarity "
                f"{closest['privacy_similarity__max'] or 0:.3f}"
            )
        if job.status == GenerationJob.Status.DONE:
            self.stdout.write(self.style.SUCCESS(line))
            return
        self.stdout.write(self.style.ERROR(line))
        if job.error:
            self.stdout.write(self.style.ERROR(f"error: {job.error}"))
        raise CommandError(
            f"job {job.pk} did not finish; resume it with "
            f"manage.py generate_pool --resume {job.pk}"
        )
