"""Blinded studies: readers, studies and their cases, per-reader orders, judgments.

A study is set up as a draft (questions, case mix, readers) and launched: the
launch draws the cases from the pool with the study's seed, gives each case a
random token, and stores for every reader an order of assignments drawn from the
reader's own seed. From then on cases, questions and orders are frozen; readers
answer each assignment once.
"""

import secrets

from django.conf import settings
from django.db import models

from ecgstudy.pool.models import EcgRecord, Origin, Rhythm, SyntheticSource

DEFAULT_DIAGNOSES = [
    ["SR", "Normal sinus rhythm"],
    ["AF", "Atrial fibrillation"],
    ["other", "Other"],
]
MIN_CONFIDENCE_LEVELS = 2
MAX_CONFIDENCE_LEVELS = 9  # one digit key per level on the case page
MIN_EXPOSURE_MS = 50  # shorter than a few frames of a screen means nothing
MAX_EXPOSURE_MS = 60_000


def random_seed() -> int:
    """A seed no one can search: a reader who sees where repeats fall in their
    order could test every 31-bit seed offline and so learn the whole order."""
    return secrets.randbits(62)  # fits BigIntegerField


def default_diagnoses() -> list[list[str]]:
    return [list(option) for option in DEFAULT_DIAGNOSES]


class Quality(models.TextChoices):
    GOOD = "good", "Good"
    ACCEPTABLE = "acceptable", "Acceptable"
    POOR = "poor", "Poor"


class SheetLayout(models.TextChoices):
    """How the viewer arranges the twelve leads on the sheet."""

    STANDARD = "3x4", "3x4 with a lead II rhythm strip"
    SIX_BY_TWO = "6x2", "6x2 (5 s per lead)"
    TWELVE = "12x1", "12x1 (the full 10 s of every lead)"


class Design(models.TextChoices):
    """What a reader sees on one page and is asked about it."""

    SINGLE = "single", "One ECG at a time"
    PAIRED_2AFC = "paired_2afc", "Paired: a real and a synthetic ECG, which is real?"
    TIMED = "timed", "Time-limited: the ECG is shown for a set time"


class Side(models.TextChoices):
    """Where an ECG of a pair is drawn on the page."""

    LEFT = "left", "Left"
    RIGHT = "right", "Right"


class Reader(models.Model):
    """A physician who reads ECGs, with the site and experience the report groups by."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reader"
    )
    site = models.CharField(
        max_length=100, blank=True, help_text="Hospital or centre, as you name it."
    )
    experience = models.CharField(
        max_length=100,
        blank=True,
        help_text="e.g. resident, cardiologist, electrophysiologist.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return self.user.get_username()


class Invitation(models.Model):
    """A one-time link with which a reader sets a password.

    Only the SHA-256 of the link's token is stored; the link itself is shown once.
    Only the newest link of a reader works; it never opens a staff, superuser or
    deactivated account.
    """

    reader = models.ForeignKey(
        Reader, on_delete=models.CASCADE, related_name="invitations"
    )
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(
        null=True, blank=True, help_text="When a newer link for the reader replaced it."
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation of {self.reader}"


class Study(models.Model):
    """A blinded reader study: its questions, its case mix and its readers."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        LAUNCHED = "launched", "Launched"
        CLOSED = "closed", "Closed"

    name = models.CharField(max_length=200)
    instructions = models.TextField(
        blank=True, help_text="Shown to readers before their first case."
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.DRAFT, editable=False
    )

    # Questions; each can be switched off.
    ask_origin = models.BooleanField(
        "ask real or synthetic", default=True, help_text="A forced choice."
    )
    ask_confidence = models.BooleanField(
        "ask confidence",
        default=True,
        help_text="How sure the reader is of the choice.",
    )
    confidence_levels = models.PositiveSmallIntegerField(
        default=5,
        help_text=f"Points on the confidence scale ({MIN_CONFIDENCE_LEVELS}-"
        f"{MAX_CONFIDENCE_LEVELS}); 1 is a guess, the highest is certain.",
    )
    ask_diagnosis = models.BooleanField(default=True)
    diagnosis_options = models.JSONField(
        default=default_diagnoses,
        help_text="[[code, text], ...]; a code that names a rhythm of the pool "
        "(SR, AF, ...) is scored against the case's rhythm in the report.",
    )
    diagnosis_multiple = models.BooleanField("several diagnoses allowed", default=False)
    ask_quality = models.BooleanField("ask signal quality", default=True)
    ask_comment = models.BooleanField(
        "offer a comment box", default=True, help_text="Free text, never required."
    )

    # The sheet as readers first see it.
    layout = models.CharField(
        "sheet layout",
        max_length=8,
        choices=SheetLayout.choices,
        default=SheetLayout.STANDARD,
        help_text="How the viewer first arranges the leads on every case.",
    )
    reader_may_change_layout = models.BooleanField(
        "readers may switch the layout",
        default=True,
        help_text="Offer the other layouts in the viewer's toolbar.",
    )

    # The design: one ECG, a pair, or a time-limited exposure.
    design = models.CharField(
        max_length=16,
        choices=Design.choices,
        default=Design.SINGLE,
        help_text="Paired: each synthetic case is shown beside a real case of its "
        "rhythm and readers choose the real one. Time-limited: the sheet is shown "
        "for the exposure below, then removed, and readers answer.",
    )
    exposure_ms = models.PositiveIntegerField(
        "exposure (ms)",
        default=1000,
        help_text="Time-limited design: how long each sheet is shown; with the "
        "staircase, the exposure of every reader's first practice case.",
    )
    staircase = models.BooleanField(
        "adaptive staircase",
        default=False,
        help_text="Time-limited design: adapts on practice cases only (at least 6): "
        "after a correct real-or-synthetic answer the next exposure is divided by "
        "the step factor, after a wrong one multiplied by it, within the bounds "
        "below (as in HYPE, Zhou et al. 2019). Every counted case is then shown "
        "at the exposure the reader's practice reached: a staircase on counted "
        "cases would tell readers whether they were right.",
    )
    exposure_min_ms = models.PositiveIntegerField("shortest exposure (ms)", default=100)
    exposure_max_ms = models.PositiveIntegerField("longest exposure (ms)", default=5000)
    exposure_step = models.FloatField(
        "staircase step factor", default=1.5, help_text="Greater than 1."
    )

    # Case mix and order.
    seed = models.BigIntegerField(
        default=random_seed, help_text="Draws the cases from the pool."
    )
    repeat_fraction = models.FloatField(
        default=0.1,
        help_text="Fraction of cases shown a second time later in each reader's "
        "order, for intra-reader agreement (0-0.5).",
    )
    practice_cases = models.PositiveSmallIntegerField(
        default=0, help_text="Cases at the start that are not counted."
    )
    reveal_ratio = models.BooleanField(
        "tell readers the real:synthetic ratio", default=False
    )
    show_feedback = models.BooleanField(
        "show readers their accuracy at the end", default=False
    )
    audit_max_auc = models.FloatField(
        "blinding audit threshold",
        default=0.65,
        help_text="The blinding audit warns before launch when a cue of the "
        "pipeline (page and sheet bytes, coordinates, lead arithmetic, clipping), "
        "or a classifier on all of them, tells real from synthetic with an AUC "
        "whose interval excludes 0.5 and that is further from 0.5 than this "
        "(0.5-1; AUC and 1 - AUC alike).",
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    launched_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    confidence_levels__gte=MIN_CONFIDENCE_LEVELS,
                    confidence_levels__lte=MAX_CONFIDENCE_LEVELS,
                ),
                name="studies_study_confidence_scale",
            ),
            models.CheckConstraint(
                condition=models.Q(repeat_fraction__gte=0, repeat_fraction__lte=0.5),
                name="studies_study_repeat_fraction",
            ),
            models.CheckConstraint(
                condition=models.Q(audit_max_auc__gte=0.5, audit_max_auc__lte=1),
                name="studies_study_audit_max_auc",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    exposure_ms__gte=MIN_EXPOSURE_MS,
                    exposure_ms__lte=MAX_EXPOSURE_MS,
                    exposure_min_ms__gte=MIN_EXPOSURE_MS,
                    exposure_max_ms__lte=MAX_EXPOSURE_MS,
                    exposure_step__gt=1,
                ),
                name="studies_study_exposure_range",
            ),
            models.CheckConstraint(
                condition=models.Q(staircase=False)
                | models.Q(
                    exposure_min_ms__lte=models.F("exposure_ms"),
                    exposure_max_ms__gte=models.F("exposure_ms"),
                ),
                name="studies_study_staircase_bounds",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT


class BlindingAudit(models.Model):
    """How well the bytes readers receive tell real from synthetic, measured
    before launch (``ecgstudy.analysis.blinding``); kept for the methods section."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="audits")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    n_real = models.PositiveIntegerField()
    n_synthetic = models.PositiveIntegerField()
    passed = models.BooleanField(
        help_text="No construction cue tells the origin beyond the threshold."
    )
    result = models.JSONField(help_text="Every cue's AUC and interval, and more.")

    class Meta:
        ordering = ["-created_at"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "warned"
        return f"Blinding audit of {self.study} ({verdict})"


class CaseQuota(models.Model):
    """How many ECGs of one origin and rhythm the launch draws from the pool, and
    optionally from which source: a real dataset or one synthetic generator.

    Rows that name sources make a study's arms: one study can hold real ECGs and
    the ECGs of several generators side by side.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="quotas")
    origin = models.CharField(max_length=16, choices=Origin.choices)
    rhythm = models.CharField(max_length=8, choices=Rhythm.choices)
    count = models.PositiveIntegerField()
    dataset = models.CharField(
        max_length=64,
        blank=True,
        help_text="Real rows only: draw from this dataset alone (e.g. ptbxl); "
        "empty: any real dataset.",
    )
    synthetic_source = models.ForeignKey(
        SyntheticSource,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="generator",
        help_text="Synthetic rows only: draw from this generator alone; empty: any.",
    )

    class Meta:
        verbose_name = "case mix row"
        ordering = ["origin", "rhythm", "dataset", "synthetic_source"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "origin", "rhythm", "dataset"],
                condition=models.Q(synthetic_source__isnull=True),
                name="studies_quota_unique",
            ),
            models.UniqueConstraint(
                fields=["study", "rhythm", "synthetic_source"],
                condition=models.Q(synthetic_source__isnull=False),
                name="studies_quota_unique_source",
            ),
            models.CheckConstraint(
                condition=models.Q(count__gt=0), name="studies_quota_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(origin="real", synthetic_source__isnull=True)
                | models.Q(origin="synthetic", dataset=""),
                name="studies_quota_source_matches_origin",
                violation_error_message="A real row may name a dataset and a "
                "synthetic row a generator, not the other way round.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.count} {self.origin} {self.rhythm}"


class StudyCase(models.Model):
    """A pool record in one study, known outside the admin only by its token."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="cases")
    record = models.ForeignKey(
        EcgRecord, on_delete=models.PROTECT, related_name="study_cases"
    )
    token = models.CharField(max_length=32, unique=True)
    practice = models.BooleanField(default=False, help_text="Not counted.")

    class Meta:
        ordering = ["study", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "record"], name="studies_case_unique_record"
            )
        ]

    def __str__(self) -> str:
        return f"case {self.token}"


class CasePair(models.Model):
    """A synthetic case and a real case of its rhythm, shown side by side in a
    paired study; drawn at launch with the study's seed. Each case is in one
    pair at most."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="pairs")
    real = models.OneToOneField(
        StudyCase, on_delete=models.PROTECT, related_name="pair_as_real"
    )
    synthetic = models.OneToOneField(
        StudyCase, on_delete=models.PROTECT, related_name="pair_as_synthetic"
    )

    class Meta:
        ordering = ["study", "pk"]

    def __str__(self) -> str:
        return f"pair of {self.synthetic} and {self.real}"


class Participation(models.Model):
    """A reader in a study, with the seed that drew their order of cases."""

    study = models.ForeignKey(
        Study, on_delete=models.CASCADE, related_name="participations"
    )
    reader = models.ForeignKey(
        Reader, on_delete=models.PROTECT, related_name="participations"
    )
    seed = models.BigIntegerField(default=random_seed)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "reader of the study"
        verbose_name_plural = "readers of the study"
        ordering = ["study", "reader__user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "reader"], name="studies_participation_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reader} in {self.study}"


class Assignment(models.Model):
    """One place in a reader's stored order: a case, in round 1 or its repeat, 2.

    The reader's URL for it is its own random token, so that a repeated case does
    not give itself away by its address.
    """

    participation = models.ForeignKey(
        Participation, on_delete=models.CASCADE, related_name="assignments"
    )
    case = models.ForeignKey(
        StudyCase, on_delete=models.PROTECT, related_name="assignments"
    )
    round = models.PositiveSmallIntegerField(default=1)
    position = models.PositiveIntegerField()
    token = models.CharField(max_length=32, unique=True)
    served_at = models.DateTimeField(
        null=True, blank=True, help_text="When the case page was last served."
    )
    pair = models.ForeignKey(
        CasePair,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assignments",
        help_text="Paired studies: the pair shown (the case is its synthetic one).",
    )
    real_side = models.CharField(
        max_length=8,
        choices=Side.choices,
        blank=True,
        help_text="Paired studies: where the real ECG is drawn, drawn at random "
        "from the reader's seed.",
    )
    sheet_served_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Time-limited studies: when the sheet was sent; it is never "
        "sent again.",
    )
    exposure_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Time-limited studies: how long the sheet was to be shown.",
    )

    class Meta:
        ordering = ["participation", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["participation", "position"],
                name="studies_assignment_unique_position",
            ),
            models.UniqueConstraint(
                fields=["participation", "case", "round"],
                name="studies_assignment_unique_round",
            ),
            models.CheckConstraint(
                condition=models.Q(round__in=[1, 2]), name="studies_assignment_round"
            ),
            models.CheckConstraint(
                condition=models.Q(pair__isnull=True, real_side="")
                | models.Q(pair__isnull=False, real_side__in=Side.values),
                name="studies_assignment_pair_side",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participation} #{self.position + 1}"


class Judgment(models.Model):
    """A reader's answers on one assignment: at most one, never changed.

    The one-to-one link to the assignment is the database's guarantee of one
    answer per reader, case and round.
    """

    assignment = models.OneToOneField(
        Assignment, on_delete=models.PROTECT, related_name="judgment"
    )
    origin = models.CharField(
        "real or synthetic", max_length=16, choices=Origin.choices, blank=True
    )
    confidence = models.PositiveSmallIntegerField(null=True, blank=True)
    diagnosis = models.JSONField(
        default=list, blank=True, help_text="Codes of the chosen diagnoses."
    )
    quality = models.CharField(max_length=16, choices=Quality.choices, blank=True)
    comment = models.TextField(blank=True)
    display = models.JSONField(
        "display settings",
        default=dict,
        blank=True,
        help_text="How the sheet was shown when the answer was given: layout, "
        "gain, zoom and whether calipers were used (an allow-listed subset of what "
        "the page reported).",
    )
    choice = models.CharField(
        "which one is real",
        max_length=8,
        choices=Side.choices,
        blank=True,
        help_text="Paired studies: the side the reader chose as real.",
    )
    exposure_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Time-limited studies: how long the sheet was shown.",
    )
    served_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField()

    class Meta:
        ordering = ["submitted_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(served_at__isnull=True)
                | models.Q(served_at__lte=models.F("submitted_at")),
                name="studies_judgment_served_before_submitted",
            )
        ]

    def __str__(self) -> str:
        return f"Answer to {self.assignment}"

    @property
    def seconds(self) -> float | None:
        """Time on the case, from the last serving of its page to the submit."""
        if self.served_at is None:
            return None
        return (self.submitted_at - self.served_at).total_seconds()
