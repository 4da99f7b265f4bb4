"""evaluate_generator stores the figures of a checkpoint; the admin shows them."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from ecgstudy.pool.models import GeneratorEvaluation, SyntheticSource
from tests.evaluation_data import small_index_folder, write_tiny_10s_checkpoint
from tests.factories import GenerationJobFactory, SyntheticRecordFactory

pytestmark = [pytest.mark.django_db, pytest.mark.data]


def test_an_evaluation_is_stored_and_shown_next_to_the_pool(
    ecg_data_dir, tmp_path, admin_client, settings
):
    settings.GENERATOR_DEVICE = "cpu"
    checkpoint = write_tiny_10s_checkpoint(tmp_path / "tiny.pt")
    data = small_index_folder(ecg_data_dir, tmp_path / "data")
    call_command(
        "evaluate_generator",
        str(checkpoint),
        data=data,
        labels="SR,AF",
        n_per_label=3,
        steps=2,
        bootstrap=20,
    )
    evaluation = GeneratorEvaluation.objects.get()
    assert evaluation.parameters["label_sets"] == ["SR", "AF"]
    assert evaluation.results["counts"]["synthetic"] == 6
    assert set(evaluation.headline) >= {"two_sample_auc", "memorised", "n_af_test"}
    summary = admin_client.get(
        reverse("admin:pool_generatorevaluation_summary", args=[evaluation.pk])
    )
    assert b"Two-sample AUC" in summary.content and b"data:image/png" in summary.content
    # The closest pair, drawn as the 12-lead sheets readers see.
    assert summary.content.count(b'<g class="ecg-traces">') == 2

    job = GenerationJobFactory(checkpoint_sha256=evaluation.checkpoint_sha256)
    SyntheticRecordFactory(generation_job=job)
    listing = admin_client.get(reverse("admin:pool_generatorevaluation_changelist"))
    assert listing.status_code == 200
    page = admin_client.get(reverse("admin:pool_generationjob_change", args=[job.pk]))
    assert str(evaluation) in page.content.decode()


def test_bad_checkpoints_and_labels_are_refused_and_nothing_stored(
    ecg_data_dir, tmp_path
):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("evaluate_generator", str(tmp_path / "none.pt"), data=ecg_data_dir)
    checkpoint = write_tiny_10s_checkpoint(tmp_path / "tiny.pt")
    with pytest.raises(CommandError, match="unknown label"):
        call_command(
            "evaluate_generator", str(checkpoint), data=ecg_data_dir, labels="MI"
        )
    with pytest.raises(CommandError, match="no index.csv"):
        call_command("evaluate_generator", str(checkpoint), data=tmp_path)
    assert not GeneratorEvaluation.objects.exists()


def test_a_synthetic_source_in_the_pool_is_evaluated_like_a_checkpoint(
    ecg_data_dir, tmp_path
):
    """Another group's ECGs, imported as a source, get the same figures."""
    from tests.factories import ImportedRecordFactory, SyntheticSourceFactory

    source = SyntheticSourceFactory(name="OtherGAN", version="2024")
    for index in range(6):
        ImportedRecordFactory(
            synthetic_source=source, rhythm="AF" if index % 2 else "SR", seed=index
        )
    data = small_index_folder(ecg_data_dir, tmp_path / "data")
    call_command("evaluate_generator", source="OtherGAN 2024", data=data, bootstrap=20)
    evaluation = GeneratorEvaluation.objects.get()
    assert evaluation.checkpoint_path == "source:OtherGAN 2024"
    assert evaluation.results["counts"]["synthetic"] == 6
    assert evaluation.parameters["source"] == "OtherGAN 2024"
    assert set(evaluation.headline) >= {"two_sample_auc", "memorised"}

    with pytest.raises(CommandError, match="no synthetic source named 'Nope'"):
        call_command("evaluate_generator", source="Nope", data=data)
    with pytest.raises(CommandError, match="either a checkpoint or --source"):
        call_command("evaluate_generator", data=data)
    SyntheticSourceFactory(name="Lonely", version="1")
    ImportedRecordFactory(synthetic_source=SyntheticSource.objects.get(name="Lonely"))
    with pytest.raises(CommandError, match="has 1 ECG"):
        call_command("evaluate_generator", source="Lonely", data=data)
    assert GeneratorEvaluation.objects.count() == 1
