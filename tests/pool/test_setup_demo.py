"""`manage.py setup_demo`: the first thing a newcomer runs."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from ecgstudy.pool.models import EcgRecord
from tests.mimic_layout import build_mimic_folder

pytestmark = pytest.mark.django_db


def run_setup(*args) -> str:
    out = StringIO()
    call_command("setup_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def printed_password(output: str) -> str:
    return re.search(r"password: (\S+)", output).group(1)


def test_without_data_it_says_where_to_get_ptbxl_and_still_creates_the_admin(tmp_path):
    output = run_setup("--data", str(tmp_path / "nowhere"), "--synthetic", "")
    assert "No ECG data found" in output
    assert "https://physionet.org/content/ptb-xl/" in output
    assert "ECG_DATA_DIR=" in output
    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser and user.check_password(printed_password(output))


def test_it_builds_a_pool_of_real_and_synthetic_ecgs_once(tmp_path, demo_checkpoint):
    build_mimic_folder(tmp_path / "data" / "mimic")
    output = run_setup("--data", str(tmp_path / "data"), "--synthetic", "AF=1,SR=1")
    assert "(mimic): imported 3" in output
    assert "done, 2/2 synthetic ECGs (AF=1, SR=1)" in output
    assert EcgRecord.objects.filter(origin="real").count() == 3
    assert EcgRecord.objects.filter(origin="synthetic").count() == 2
    again = run_setup("--data", str(tmp_path / "data"), "--synthetic", "AF=1,SR=1")
    assert "imported 0, skipped 3" in again
    assert EcgRecord.objects.count() == 5
    assert printed_password(again) != printed_password(output)


def test_its_privacy_reference_holds_every_folder_the_checkpoint_learnt_from(
    tmp_path, demo_checkpoint, ecg_data_dir, settings
):
    """An index.csv folder is the reference; the folders of GENERATOR_LEARNT_FROM
    that exist join it (a missing one is left out, as on a machine without it)."""
    from ecgstudy.pool.models import GenerationJob
    from generator.datasets import iter_index
    from generator.ecg import load_canonical
    from tests.generator.test_privacy import write_reference_folder
    from tests.generator.test_train import write_shape_folder

    real = {
        split: [
            load_canonical(r.path) for r in list(iter_index(ecg_data_dir, [split]))[:4]
        ]
        for split in ("train", "val")
    }
    write_reference_folder(tmp_path / "data", real["train"], real["val"])
    write_shape_folder(tmp_path / "shape", ["train", "test"])
    settings.GENERATOR_LEARNT_FROM = [str(tmp_path / "shape"), str(tmp_path / "gone")]
    output = run_setup("--data", str(tmp_path / "data"), "--synthetic", "SR=1")
    job = GenerationJob.objects.get()
    assert job.privacy_reference == str(tmp_path / "data")
    assert job.privacy_learnt_from == [str(tmp_path / "shape")]
    assert f"privacy reference {tmp_path / 'data'}, {tmp_path / 'shape'}" in output
