"""Checkpoints, generate() and the sample CLI."""

import json

import numpy as np
import pytest
import torch

from generator import api
from generator.checkpoint import (
    CheckpointError,
    export_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from generator.ecg import LEADS
from generator.sample import main as sample_main


def test_checkpoint_round_trip_rebuilds_the_same_network(tiny_checkpoint, tiny_model):
    ckpt = load_checkpoint(tiny_checkpoint)
    assert ckpt.labels == ["SR", "AF", "NORM"]
    assert ckpt.step == 7 and ckpt.data_scale == 0.25 and ckpt.fs == 100
    assert ckpt.model_config == tiny_model.cfg
    rebuilt = ckpt.build()
    x, t, y = torch.randn(2, 8, 200), torch.tensor([3, 60]), torch.eye(3)[:2]
    with torch.no_grad():
        assert torch.equal(rebuilt(x, t, y), tiny_model(x, t, y))


def test_checkpoint_payload_loads_with_weights_only(tiny_checkpoint):
    payload = torch.load(tiny_checkpoint, weights_only=True)
    assert {"format", "config", "labels", "model", "ema", "step"} <= set(payload)
    assert isinstance(payload["config"]["model"], dict)


def test_resaving_keeps_no_temporary_files(tiny_checkpoint):
    save_checkpoint(load_checkpoint(tiny_checkpoint), tiny_checkpoint)
    assert [p.name for p in tiny_checkpoint.parent.iterdir()] == ["tiny.pt"]


def test_checkpoint_of_another_format_gives_a_clear_error(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"format": "sssd-ecg-upstream", "model": {}}, other)
    with pytest.raises(CheckpointError, match="sssd-ecg-upstream"):
        load_checkpoint(other)
    raw = tmp_path / "raw.pt"
    torch.save({"weight": torch.zeros(2)}, raw)
    with pytest.raises(CheckpointError, match="format None"):
        load_checkpoint(raw)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(junk)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_generate_returns_twelve_lead_millivolts_with_provenance(tiny_checkpoint):
    signals, prov = api.generate(tiny_checkpoint, ["AF"], n=3, seed=5, steps=4)
    assert signals.shape == (3, 12, 200)
    assert signals.dtype == np.float32
    assert prov.seed == 5 and prov.steps == 4 and prov.sampler == "ddim"
    assert prov.step == 7 and prov.labels == ("AF",) and prov.fs == 100
    assert len(prov.checkpoint_sha256) == 64
    assert prov.leads == LEADS


def test_derived_leads_satisfy_einthoven_and_goldberger(tiny_checkpoint):
    s, _ = api.generate(tiny_checkpoint, ["SR"], n=2, seed=1, steps=3)
    lead = {name: s[:, k] for k, name in enumerate(LEADS)}
    assert np.abs(lead["II"] - (lead["I"] + lead["III"])).max() < 1e-6
    assert np.abs(lead["aVR"] + lead["aVL"] + lead["aVF"]).max() < 1e-6
    assert np.abs(lead["aVF"] - (lead["II"] + lead["III"]) / 2).max() < 1e-6
    assert np.abs(lead["aVR"] + (lead["I"] + lead["II"]) / 2).max() < 1e-6
    assert np.abs(lead["aVL"] - (lead["I"] - lead["III"]) / 2).max() < 1e-6


def test_generate_is_reproducible_and_independent_of_batch_size(tiny_checkpoint):
    a, _ = api.generate(tiny_checkpoint, ["SR"], n=3, seed=2, steps=3, batch_size=3)
    b, _ = api.generate(tiny_checkpoint, ["SR"], n=3, seed=2, steps=3, batch_size=2)
    c, _ = api.generate(tiny_checkpoint, ["SR"], n=3, seed=3, steps=3)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert not np.allclose(a, c)


def test_generate_caches_the_loaded_model(tiny_checkpoint):
    first = api.load_model(tiny_checkpoint, "cpu")
    assert api.load_model(tiny_checkpoint, "cpu") is first


def test_generate_rejects_unknown_labels_and_bad_arguments(tiny_checkpoint):
    with pytest.raises(ValueError, match="knows"):
        api.generate(tiny_checkpoint, ["STEMI"], n=1, seed=0)
    with pytest.raises(ValueError, match="sampler"):
        api.generate(tiny_checkpoint, ["SR"], n=1, seed=0, sampler="euler")
    with pytest.raises(ValueError, match="n must be"):
        api.generate(tiny_checkpoint, ["SR"], n=0, seed=0)


def test_guided_ddpm_generation_runs(tiny_checkpoint):
    s, prov = api.generate(
        tiny_checkpoint, ["AF"], n=1, seed=0, steps=5, sampler="ddpm", guidance=2.0
    )
    assert np.isfinite(s).all() and prov.guidance == 2.0


def test_sample_cli_writes_signals_labels_and_fs(tiny_checkpoint, tmp_path):
    out = tmp_path / "x.npz"
    sample_main(
        ["--checkpoint", str(tiny_checkpoint), "--label", "AF", "--n", "2"]
        + ["--steps", "3", "--out", str(out)]
    )
    data = np.load(out)
    assert data["signals"].shape == (2, 12, 200)
    assert list(data["labels"]) == ["AF"]
    assert int(data["fs"]) == 100
    assert json.loads(str(data["provenance"]))["steps"] == 3


def test_exported_checkpoint_is_smaller_and_samples_alike(tiny_checkpoint, tmp_path):
    small = export_checkpoint(tiny_checkpoint, tmp_path / "small.pt")
    assert small.stat().st_size < 0.7 * tiny_checkpoint.stat().st_size
    ckpt = load_checkpoint(small)
    assert ckpt.extra["exported_from_step"] == 7
    full, _ = api.generate(tiny_checkpoint, ["SR"], n=1, seed=0, steps=3)
    half, _ = api.generate(small, ["SR"], n=1, seed=0, steps=3)
    assert np.abs(full - half).max() < 0.05
