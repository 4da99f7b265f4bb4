"""ECG records of the pool: one row per real or synthetic 12-lead ECG."""

from django.db import models

RHYTHM_HELP = "Normalised rhythm, the same classes for every source."


class Origin(models.TextChoices):
    REAL = "real", "Real"
    SYNTHETIC = "synthetic", "Synthetic"


class Rhythm(models.TextChoices):
    AF = "AF", "Atrial fibrillation"
    AFL = "AFL", "Atrial flutter"
    SR = "SR", "Sinus rhythm"
    SB = "SB", "Sinus bradycardia"
    STACH = "STach", "Sinus tachycardia"
    SA = "SA", "Sinus arrhythmia"
    PACED = "PACED", "Paced rhythm"
    OTHER = "other", "Other"


class Sex(models.TextChoices):
    MALE = "M", "Male"
    FEMALE = "F", "Female"


class SyntheticSource(models.Model):
    """A generator whose ECGs are in the pool: one of this product's checkpoints
    or another group's published set, imported with ``manage.py import_synthetic``.

    Known to researchers only: nothing of a source ever reaches a reader.
    """

    class Kind(models.TextChoices):
        CHECKPOINT = "checkpoint", "Our generator checkpoint"
        IMPORTED = "imported", "Imported set"

    name = models.CharField(max_length=100, help_text="e.g. SSSD-ECG, demo-checkpoint.")
    version = models.CharField(
        max_length=64,
        blank=True,
        help_text="The set's version or year; for a checkpoint, the start of its hash.",
    )
    citation = models.TextField(
        blank=True, help_text="Where the set is published, for the methods section."
    )
    checkpoint_sha256 = models.CharField(
        "checkpoint SHA-256",
        max_length=64,
        blank=True,
        help_text="SHA-256 of the checkpoint that made the ECGs; empty if unknown.",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "synthetic source"
        ordering = ["name", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "version"], name="pool_source_unique_name_version"
            )
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """How a researcher names the source: "SSSD-ECG 2023", "demo-checkpoint
        @ab12cd34"."""
        if self.kind == self.Kind.CHECKPOINT and self.checkpoint_sha256:
            return f"{self.name} @{self.checkpoint_sha256[:8]}"
        return f"{self.name} {self.version}".strip()


class GenerationJob(models.Model):
    """A request for synthetic ECGs from one checkpoint, run in chunks by Celery.

    ``plan`` lists label sets and counts in order, e.g. [[["AF"], 50],
    [["SR", "NORM"], 50]]; ECG ``index`` of the job is the position in that order.
    Chunks never span two label sets, and chunk k draws its noise from a seed
    derived from ``seed`` and k, so the same job always makes the same ECGs.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Sampler(models.TextChoices):
        DDIM = "ddim", "DDIM"
        DDPM = "ddpm", "DDPM (ancestral)"

    checkpoint_path = models.CharField(max_length=500)
    checkpoint_sha256 = models.CharField(max_length=64)
    plan = models.JSONField(help_text="[[labels, count], ...] in generation order.")
    sampler = models.CharField(max_length=8, choices=Sampler.choices)
    steps = models.PositiveIntegerField(help_text="Denoising steps per ECG.")
    guidance = models.FloatField(help_text="Classifier-free guidance scale; 1 = none.")
    seed = models.BigIntegerField()
    chunk_size = models.PositiveIntegerField()
    total = models.PositiveIntegerField()
    privacy_reference = models.CharField(
        max_length=500,
        blank=True,
        help_text="Dataset folder (index.csv) of the generator's training patients: "
        "an ECG closer to one of them than any of its unseen (val and test) "
        "patients comes is drawn again. Empty: no check.",
    )
    privacy_learnt_from = models.JSONField(
        default=list,
        blank=True,
        help_text="Other folders the generator learnt from (its shape and millivolt "
        "data): their patients are training patients of the privacy reference too.",
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    n_done = models.PositiveIntegerField("done", default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(n_done__lte=models.F("total")),
                name="pool_job_done_within_total",
            ),
            models.CheckConstraint(
                condition=models.Q(steps__gt=0)
                & models.Q(chunk_size__gt=0)
                & models.Q(total__gt=0)
                & models.Q(guidance__gte=0),
                name="pool_job_positive_parameters",
            ),
        ]

    def __str__(self) -> str:
        counts = ", ".join(f"{'+'.join(labels)}={n}" for labels, n in self.plan)
        return f"Generation job {self.pk} ({counts})"

    @property
    def is_finished(self) -> bool:
        return self.status in {
            self.Status.DONE,
            self.Status.FAILED,
            self.Status.CANCELLED,
        }


class EcgRecord(models.Model):
    """A 12-lead ECG in canonical form, with its labels and cached 12-lead sheet.

    The signal file holds float32 (12, L) millivolts in the canonical lead order at
    ``fs`` Hz; file names are random so that they say nothing about the record.
    """

    origin = models.CharField(max_length=16, choices=Origin.choices)
    dataset = models.CharField(
        max_length=64, help_text="Source dataset, e.g. ptbxl, ludb, challenge."
    )
    source_id = models.CharField(
        max_length=128, help_text="The record's id within its source dataset."
    )
    source_path = models.CharField(max_length=500, blank=True)
    fs = models.PositiveIntegerField("sampling rate (Hz)")
    n_samples = models.PositiveIntegerField()
    signal = models.FileField(upload_to="signals/")
    signal_sha256 = models.CharField(max_length=64)
    sheet = models.FileField(upload_to="sheets/", blank=True)
    labels = models.JSONField(
        default=list, blank=True, help_text="The source's own labels, as written."
    )
    rhythm = models.CharField(
        max_length=8, choices=Rhythm.choices, help_text=RHYTHM_HELP
    )
    normal = models.BooleanField(
        null=True, help_text="Empty where the source says nothing."
    )
    age = models.PositiveSmallIntegerField(null=True, blank=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, blank=True)
    generation_job = models.ForeignKey(
        GenerationJob,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="records",
        help_text="The job that made a synthetic ECG; empty for real ones.",
    )
    generation_index = models.PositiveIntegerField(
        null=True, blank=True, help_text="Position of the ECG within its job."
    )
    synthetic_source = models.ForeignKey(
        SyntheticSource,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="records",
        help_text="The generator that made a synthetic ECG; empty for real ones, "
        "whose dataset is their source.",
    )
    generation_seed = models.BigIntegerField(
        null=True, blank=True, help_text="Seed of the chunk that drew this ECG."
    )
    privacy_similarity = models.FloatField(
        null=True,
        blank=True,
        help_text="Similarity to the closest training patient of the job's privacy "
        "reference (1 = a copy), when the job had one.",
    )
    privacy_redraws = models.PositiveSmallIntegerField(
        default=0,
        help_text="How many times this ECG was drawn again for coming closer to a "
        "training patient than unseen patients do; the ECG kept is that redraw, "
        "seeded by generator.privacy.redraw_seed(chunk seed, place in the chunk, "
        "redraws).",
    )
    files_missing_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a reader's case page found neither its sheet nor its signal "
        "in storage; readers skip its unanswered cases while this is set.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "ECG record"
        ordering = ["dataset", "source_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "source_id"], name="pool_record_unique_source"
            ),
            models.CheckConstraint(
                condition=models.Q(n_samples__gt=0) & models.Q(fs__gt=0),
                name="pool_record_nonempty_signal",
            ),
            models.UniqueConstraint(
                fields=["generation_job", "generation_index"],
                name="pool_record_unique_job_index",
            ),
            # A synthetic ECG carries its job and index (generated here) or its
            # source (imported); a real one carries none of them.
            models.CheckConstraint(
                condition=(
                    models.Q(
                        origin="synthetic",
                        generation_job__isnull=False,
                        generation_index__isnull=False,
                    )
                    | models.Q(
                        origin="synthetic",
                        generation_job__isnull=True,
                        generation_index__isnull=True,
                        synthetic_source__isnull=False,
                    )
                    | models.Q(
                        origin="real",
                        generation_job__isnull=True,
                        generation_index__isnull=True,
                        synthetic_source__isnull=True,
                    )
                ),
                name="pool_record_provenance_matches_origin",
            ),
        ]
        indexes = [models.Index(fields=["origin", "rhythm"])]

    def __str__(self) -> str:
        return f"{self.dataset}/{self.source_id}"

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs


class GeneratorEvaluation(models.Model):
    """A run of ``generator.evaluate`` on one checkpoint against real ECGs.

    ``results`` holds every figure (see generator/evaluate.py); ``summary`` is
    the self-contained HTML page with its plots.
    """

    checkpoint_path = models.CharField(max_length=500)
    checkpoint_sha256 = models.CharField(max_length=64, db_index=True)
    parameters = models.JSONField(help_text="Split, label sets, counts, steps, seed.")
    results = models.JSONField()
    summary = models.FileField(upload_to="evaluations/")
    seconds = models.FloatField("run time (s)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "generator evaluation"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Evaluation {self.pk} of checkpoint {self.checkpoint_sha256[:12]}"

    @property
    def headline(self) -> dict:
        return self.results.get("summary", {})
