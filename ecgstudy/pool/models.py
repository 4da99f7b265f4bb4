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
        ]
        indexes = [models.Index(fields=["origin", "rhythm"])]

    def __str__(self) -> str:
        return f"{self.dataset}/{self.source_id}"

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs
