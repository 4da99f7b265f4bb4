"""Forms of the pool's admin pages."""

from pathlib import Path

from django import forms
from django.conf import settings

from ecgstudy.pool.models import GenerationJob
from ecgstudy.pool.selectors import available_checkpoints
from ecgstudy.pool.services import (
    ARRAY_SUFFIXES,
    generation_request_check,
    parse_label_counts,
)
from generator.ecg import LEADS


class GenerationJobForm(forms.Form):
    """What a researcher asks of the generator: checkpoint, counts, sampler."""

    checkpoint = forms.ChoiceField(
        help_text="A generator checkpoint from the checkpoint folder "
        "(GENERATOR_CHECKPOINT_DIR), at the same path on every worker.",
    )
    per_label = forms.CharField(
        label="ECGs per label",
        max_length=500,
        widget=forms.TextInput(attrs={"size": 40}),
        help_text="e.g. AF=50,SR=50; join labels with + (SR+NORM=20).",
    )
    sampler = forms.ChoiceField(choices=GenerationJob.Sampler.choices, initial="ddim")
    steps = forms.IntegerField(min_value=1, max_value=2000, initial=50)
    guidance = forms.FloatField(
        min_value=0, initial=1.0, help_text="Classifier-free guidance; 1 = none."
    )
    seed = forms.IntegerField(
        min_value=0,
        required=False,
        help_text="Leave empty for a fresh random seed (stored with the job, so it "
        "reproduces); give the seed of an earlier job to repeat its ECGs.",
    )
    chunk_size = forms.IntegerField(
        min_value=1, max_value=1000, initial=8, help_text="ECGs per Celery task."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        folder = Path(settings.GENERATOR_CHECKPOINT_DIR).resolve()
        field = self.fields["checkpoint"]
        field.choices = [
            (str(path), str(path.relative_to(folder)))
            for path in available_checkpoints()
        ]
        field.initial = str(Path(settings.GENERATOR_CHECKPOINT).resolve())
        if not field.choices:
            field.help_text = (
                f"No checkpoint (*.pt) found in {folder}: put one there or point "
                "GENERATOR_CHECKPOINT_DIR at the folder that holds them."
            )

    def clean_per_label(self):
        try:
            return parse_label_counts(self.cleaned_data["per_label"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            generation_request_check(
                checkpoint=data["checkpoint"],
                plan=data["per_label"],
                sampler=data["sampler"],
                steps=data["steps"],
                guidance=data["guidance"],
                chunk_size=data["chunk_size"],
            )
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data

    def job_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "checkpoint": data["checkpoint"],
            "plan": data["per_label"],
            "sampler": data["sampler"],
            "steps": data["steps"],
            "guidance": data["guidance"],
            "seed": data["seed"],
            "chunk_size": data["chunk_size"],
        }


class SyntheticImportForm(forms.Form):
    """Another group's synthetic set, uploaded as an array file with its labels."""

    signals = forms.FileField(
        label="ECG array",
        help_text=".npy (n, 12, samples) or .npz with a 'signals' array, millivolts.",
    )
    labels = forms.FileField(
        label="labels CSV",
        help_text="Column 'record' (the 0-based index in the array) and 'labels' "
        "(separated by ;) and/or 'rhythm' (AF, AFL, SR, SB, STach, SA, PACED, other).",
    )
    fs = forms.FloatField(label="sampling rate (Hz)", initial=100)
    lead_order = forms.CharField(
        max_length=200,
        initial=",".join(LEADS),
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="The leads in the order the array stores them.",
    )
    name = forms.CharField(max_length=100, help_text="The generator, e.g. SSSD-ECG.")
    version = forms.CharField(max_length=64, required=False, help_text="e.g. 2023.")
    citation = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    checkpoint_sha256 = forms.CharField(
        label="checkpoint SHA-256",
        max_length=64,
        required=False,
        help_text="Of the checkpoint that made the ECGs, where known.",
    )

    def clean_signals(self):
        upload = self.cleaned_data["signals"]
        if Path(upload.name).suffix not in ARRAY_SUFFIXES:
            raise forms.ValidationError(
                f"{upload.name}: an array file is {' or '.join(ARRAY_SUFFIXES)}"
            )
        return upload

    def import_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "version": data["version"],
            "citation": data["citation"],
            "checkpoint_sha256": data["checkpoint_sha256"],
            "fs": data["fs"],
            "lead_order": [x.strip() for x in data["lead_order"].split(",") if x],
        }
