"""`manage.py generate_pool` and generation jobs: provenance, resume, blinding."""

import re
import time
import xml.etree.ElementTree as ET
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from ecgstudy.pool.models import EcgRecord, GenerationJob, Origin
from ecgstudy.pool.selectors import record_sheet_svg, record_signal
from ecgstudy.pool.services import (
    generation_chunk_run,
    generation_job_cancel,
    generation_job_create,
    generation_job_run,
    job_chunks,
    parse_label_counts,
)
from tests.factories import EcgRecordFactory


def run_generate(*args) -> str:
    out = StringIO()
    call_command("generate_pool", *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


def make_job(checkpoint, per_label="AF=2,SR=2", chunk_size=2, steps=2, seed=7):
    return generation_job_create(
        checkpoint=checkpoint,
        plan=parse_label_counts(per_label),
        steps=steps,
        seed=seed,
        chunk_size=chunk_size,
    )


def test_label_counts_parse_and_reject_nonsense():
    assert parse_label_counts("AF=50, SR+NORM=20") == [
        (("AF",), 50),
        (("SR", "NORM"), 20),
    ]
    for bad, message in [
        ("AF", "not LABEL=COUNT"),
        ("AF=x", "whole number"),
        ("AF=0", "at least 1"),
        ("", "no label counts"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_label_counts(bad)


@pytest.mark.django_db
def test_chunks_never_span_two_label_sets(demo_checkpoint):
    job = make_job(demo_checkpoint, per_label="AF=5,SR=3", chunk_size=2)
    spans = [(c.labels, c.start, c.n) for c in job_chunks(job)]
    assert spans == [
        (("AF",), 0, 2),
        (("AF",), 2, 2),
        (("AF",), 4, 1),
        (("SR",), 5, 2),
        (("SR",), 7, 1),
    ]


@pytest.mark.django_db
def test_generate_pool_makes_rendered_synthetic_records_with_provenance(
    demo_checkpoint,
):
    output = run_generate(
        "--checkpoint",
        demo_checkpoint,
        "--per-label",
        "AF=2,SR=2",
        "--steps",
        3,
        "--chunk",
        2,
        "--seed",
        5,
    )
    assert re.search(r"done, 4/4 synthetic ECGs \(AF=2, SR=2\)", output)
    job = GenerationJob.objects.get()
    assert job.status == GenerationJob.Status.DONE and job.n_done == 4
    assert (job.sampler, job.steps, job.seed) == ("ddim", 3, 5)
    assert len(job.checkpoint_sha256) == 64
    records = list(EcgRecord.objects.order_by("generation_index"))
    assert [r.generation_index for r in records] == [0, 1, 2, 3]
    assert [r.rhythm for r in records] == ["AF", "AF", "SR", "SR"]
    for record in records:
        assert record.origin == Origin.SYNTHETIC
        assert record.generation_job == job and record.generation_seed is not None
        assert (record.fs, record.n_samples) == (100, 1000)
        assert record_signal(record=record).shape == (12, 1000)
        assert record_sheet_svg(record=record).startswith(b"<svg")
    # Chunk seeds differ, and a chunk's ECGs share its seed.
    assert records[0].generation_seed == records[1].generation_seed
    assert records[0].generation_seed != records[2].generation_seed


@pytest.mark.django_db
def test_same_job_parameters_give_the_same_signals(demo_checkpoint):
    first = generation_job_run(job=make_job(demo_checkpoint, seed=3))
    second = generation_job_run(job=make_job(demo_checkpoint, seed=3))
    other = generation_job_run(job=make_job(demo_checkpoint, seed=4))

    def signals(job):
        return np.stack(
            [record_signal(record=r) for r in job.records.order_by("generation_index")]
        )

    np.testing.assert_allclose(signals(first), signals(second), atol=1e-5)
    assert not np.allclose(signals(first), signals(other))


@pytest.mark.django_db
def test_a_second_job_without_a_seed_makes_other_ecgs(demo_checkpoint):
    jobs = [
        generation_job_run(
            job=generation_job_create(
                checkpoint=demo_checkpoint, plan=[(("AF",), 1)], steps=2
            )
        )
        for _ in range(2)
    ]
    assert jobs[0].seed != jobs[1].seed  # fresh, and stored to reproduce
    first, second = (record_signal(record=job.records.get()) for job in jobs)
    assert np.abs(first - second).max() > 0.05


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--per-label", "VT=3"], "unknown label.*VT.*this checkpoint knows.*AF"),
        (["--per-label", "AF"], "not LABEL=COUNT"),
        ([], "give --per-label"),
        (["--per-label", "AF=1", "--steps", "0"], "steps must be at least 1"),
        (["--per-label", "AF=1", "--checkpoint", "/no/such.pt"], "not found"),
    ],
)
def test_bad_requests_are_clear_errors_and_write_nothing(
    demo_checkpoint, args, message
):
    if "--checkpoint" not in args:
        args = ["--checkpoint", demo_checkpoint, *args]
    with pytest.raises(CommandError, match=message):
        run_generate(*args)
    assert GenerationJob.objects.count() == 0 and EcgRecord.objects.count() == 0


@pytest.mark.django_db
def test_a_file_that_is_not_a_checkpoint_is_a_clear_error(tmp_path):
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CommandError, match="cannot be loaded"):
        run_generate("--checkpoint", bogus, "--per-label", "AF=1")
    assert GenerationJob.objects.count() == 0


@pytest.mark.django_db
def test_failing_generator_fails_the_job_keeps_earlier_chunks_and_resumes(
    demo_checkpoint, monkeypatch, settings
):
    from generator import api

    real_generate = api.generate
    calls = {"n": 0}

    def generate_then_break(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("GPU fell off the bus")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(api, "generate", generate_then_break)
    job = make_job(demo_checkpoint, per_label="AF=2,SR=2", chunk_size=2)
    with pytest.raises(RuntimeError):
        generation_job_run(job=job)
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.FAILED
    assert job.error == "chunk 1: RuntimeError: GPU fell off the bus"
    assert sorted(job.records.values_list("generation_index", flat=True)) == [0, 1]
    assert job.n_done == 2
    sheets = list((settings.MEDIA_ROOT / "sheets").iterdir())
    assert len(sheets) == 2  # no file of the failed chunk is left behind

    monkeypatch.setattr(api, "generate", real_generate)
    job = generation_job_run(job=job)
    assert job.status == GenerationJob.Status.DONE and job.error == ""
    assert sorted(job.records.values_list("generation_index", flat=True)) == [
        0,
        1,
        2,
        3,
    ]


@pytest.mark.django_db
def test_a_chunk_run_twice_writes_nothing_twice(demo_checkpoint):
    job = make_job(demo_checkpoint, per_label="AF=2", chunk_size=2)
    assert generation_chunk_run(job_id=job.pk, chunk_index=0) == 2
    assert generation_chunk_run(job_id=job.pk, chunk_index=0) == 0
    assert job.records.count() == 2


@pytest.mark.django_db
def test_a_cancelled_job_writes_nothing_more(demo_checkpoint):
    job = make_job(demo_checkpoint, per_label="AF=4", chunk_size=2)
    generation_chunk_run(job_id=job.pk, chunk_index=0)
    assert generation_job_cancel(job=job)
    assert generation_chunk_run(job_id=job.pk, chunk_index=1) == 0
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.CANCELLED and job.records.count() == 2


def svg_structure(svg: bytes) -> list[tuple]:
    """Every element with its attributes, path data left out."""
    return [
        (el.tag, sorted((k, v) for k, v in el.attrib.items() if k != "d"), el.text)
        for el in ET.fromstring(svg).iter()
    ]


@pytest.mark.django_db
def test_synthetic_and_real_sheets_differ_only_in_path_data(demo_checkpoint):
    real = EcgRecordFactory()
    job = generation_job_run(job=make_job(demo_checkpoint, per_label="AF=1"))
    synthetic = job.records.get()
    real_svg = record_sheet_svg(record=real)
    synthetic_svg = record_sheet_svg(record=synthetic)
    assert svg_structure(real_svg) == svg_structure(synthetic_svg)
    assert real_svg != synthetic_svg
    assert (real.fs, real.n_samples) == (synthetic.fs, synthetic.n_samples)
    real_signal, synthetic_signal = (record_signal(record=r) for r in (real, synthetic))
    assert real_signal.dtype == synthetic_signal.dtype == np.float32
    assert real_signal.shape == synthetic_signal.shape


@pytest.mark.django_db
def test_admin_form_starts_a_job_and_names_unknown_labels(
    admin_client, demo_checkpoint, django_capture_on_commit_callbacks
):
    url = reverse("admin:pool_generationjob_add")
    page = admin_client.get(url).content.decode()
    assert "Generate synthetic ECGs" in page and 'name="per_label"' in page
    form = {
        "checkpoint": str(demo_checkpoint),
        "per_label": "AF=1,XYZ=2",
        "sampler": "ddim",
        "steps": 2,
        "guidance": 1.0,
        "seed": 1,
        "chunk_size": 4,
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "unknown label(s) XYZ" in response.content.decode()
    assert GenerationJob.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {**form, "per_label": "AF=1,SR=1"})
    assert response.status_code == 302
    job = GenerationJob.objects.get()
    assert job.status == GenerationJob.Status.DONE and job.records.count() == 2
    page = admin_client.get(reverse("admin:pool_generationjob_change", args=[job.pk]))
    assert "2 synthetic ECGs" in page.content.decode()
    record = job.records.first()
    page = admin_client.get(reverse("admin:pool_ecgrecord_change", args=[record.pk]))
    assert job.checkpoint_sha256 in page.content.decode()


@pytest.mark.django_db
def test_admin_actions_cancel_and_resume(admin_client, demo_checkpoint):
    job = make_job(demo_checkpoint, per_label="AF=2", chunk_size=1)
    url = reverse("admin:pool_generationjob_changelist")
    admin_client.post(url, {"action": "cancel_jobs", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.CANCELLED
    admin_client.post(url, {"action": "resume_jobs", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.QUEUED


@pytest.mark.django_db(transaction=True)
def test_worker_writes_chunks_and_a_killed_job_resumes_without_duplicates(
    celery_worker, demo_checkpoint
):
    from ecgstudy.pool.services import generation_job_queue

    job = make_job(demo_checkpoint, per_label="AF=4,SR=4", chunk_size=1, steps=10)
    worker = celery_worker()
    generation_job_queue(job=job)
    progress = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job.refresh_from_db()
        progress.append(job.n_done)
        if job.n_done >= 2:
            break
        assert worker.poll() is None, "the worker died"
        time.sleep(0.2)
    worker.kill()  # mid-way: no warm shutdown, tasks may be lost or half-done
    worker.wait(timeout=20)
    job.refresh_from_db()
    assert job.n_done >= 2, f"two chunks did not arrive in time: {progress}"
    assert progress[0] < progress[-1], "progress never moved"
    assert job.records.count() == job.n_done

    celery_worker()
    generation_job_queue(job=job)  # resume: only the unwritten chunks
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and job.status != GenerationJob.Status.DONE:
        time.sleep(0.3)
        job.refresh_from_db()
    assert job.status == GenerationJob.Status.DONE, job.error
    indices = list(job.records.values_list("generation_index", flat=True))
    assert sorted(indices) == list(range(8))


def _first_af_ecg_and_real(checkpoint, data_dir):
    """The first AF ECG a job seeded 5 draws (DDIM-10), and 8 real ECGs each of
    ``data_dir``'s train and val splits, for a privacy reference around it."""
    from ecgstudy.pool.services import chunk_seed
    from generator import api
    from generator.datasets import iter_index
    from generator.ecg import load_canonical

    first, _ = api.generate(
        checkpoint, ["AF"], n=1, seed=chunk_seed(5, 0), steps=10, device="cpu"
    )
    real = {
        split: [load_canonical(r.path) for r in list(iter_index(data_dir, [split]))[:8]]
        for split in ("train", "val")
    }
    return first[0], real


@pytest.mark.django_db
def test_generate_pool_redraws_an_ecg_that_copies_a_training_patient(
    demo_checkpoint, ecg_data_dir, tmp_path
):
    """The reference's training set holds a copy of the first ECG the job would
    draw: that ECG is drawn again, and the redraw is on its record."""
    from generator.ecg import canonicalize
    from tests.generator.test_privacy import write_reference_folder

    first, real = _first_af_ecg_and_real(demo_checkpoint, ecg_data_dir)
    copy = canonicalize(first, 100)
    write_reference_folder(tmp_path / "ref", [copy, *real["train"]], real["val"])
    out = run_generate(
        "--checkpoint", demo_checkpoint, "--per-label", "AF=2", "--steps", "10",
        "--seed", "5", "--chunk", "2", "--privacy-reference", tmp_path / "ref",
    )  # fmt: skip
    job = GenerationJob.objects.get()
    records = list(job.records.order_by("generation_index"))
    assert [r.privacy_redraws for r in records] == [1, 0]
    assert all(r.privacy_similarity < 0.9 for r in records)
    assert "1 ECG(s) redrawn for coming too close to a training patient" in out
    kept = record_signal(record=records[0])
    assert np.abs(kept - copy).max() > 0.05  # not the copy


@pytest.mark.django_db
def test_a_copy_of_a_patient_of_the_shape_data_is_redrawn_when_it_is_named(
    demo_checkpoint, ecg_data_dir, tmp_path
):
    """The copy sits in a ptbxl-shape folder (z-scored, as PTB-XL's uploader left
    it) the generator learnt from, not in the dataset's train split: only a
    reference told that folder finds it."""
    from tests.generator.test_privacy import write_reference_folder

    first, real = _first_af_ecg_and_real(demo_checkpoint, ecg_data_dir)
    write_reference_folder(tmp_path / "ref", real["train"], real["val"])
    shape = tmp_path / "ptbxl-shape"
    shape.mkdir()
    z = (first - first.mean(1, keepdims=True)) / first.std(1, keepdims=True)
    np.save(shape / "signals_100hz.npy", z[None].astype(np.float16))
    (shape / "index.csv").write_text("row,ecg_id,split\n0,77,train\n")
    common = ["--checkpoint", demo_checkpoint, "--per-label", "AF=1"]
    common += ["--steps", "10", "--seed", "5", "--privacy-reference", tmp_path / "ref"]

    run_generate(*common)
    assert GenerationJob.objects.get().records.get().privacy_redraws == 0

    with pytest.raises(CommandError, match="no such folder"):
        run_generate(*common, "--privacy-learnt-from", tmp_path / "missing")
    out = run_generate(*common, "--privacy-learnt-from", shape)
    job = GenerationJob.objects.latest("pk")
    assert job.privacy_learnt_from == [str(shape)]
    assert job.records.get().privacy_redraws == 1
    assert "1 ECG(s) redrawn" in out and str(shape) in out
