"""Training: the loss falls, runs resume, the test split stays out."""

import csv

import numpy as np
import pytest
import torch
import wfdb

from generator.checkpoint import load_checkpoint
from generator.data import split_records
from generator.diffusion import DIFFUSION_PRESETS, GaussianDiffusion
from generator.ecg import canonicalize, read_wfdb, reduce_to_8
from generator.model import SSSD
from generator.train import main as train_main
from generator.train import update_ema

from .conftest import tiny_config


def fake_ecgs(n: int, length: int = 200, seed: int = 0) -> torch.Tensor:
    """Beat-like bumps at a steady rate: something a tiny model can learn."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 100
    out = np.zeros((n, 8, length), dtype=np.float32)
    for i in range(n):
        period = rng.uniform(0.7, 1.0)
        phase = np.mod(t + rng.uniform(0, period), period)
        beat = np.exp(-((phase - 0.3) ** 2) / 0.0008)
        out[i] = beat * rng.uniform(0.5, 2.0, size=(8, 1))
    return torch.from_numpy(out)


def test_fifty_training_steps_lower_the_loss():
    torch.manual_seed(0)
    model = SSSD(tiny_config())
    diffusion = GaussianDiffusion(DIFFUSION_PRESETS["tiny"])
    x_0, labels = fake_ecgs(16), torch.eye(3)[torch.arange(16) % 3]
    t_eval = torch.arange(16) * 6

    def eval_loss() -> float:
        g = torch.Generator().manual_seed(99)
        with torch.no_grad():
            loss = diffusion.training_loss(model, x_0, labels, t=t_eval, generator=g)
            return loss.item()

    before = eval_loss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        loss = diffusion.training_loss(model, x_0, labels, generator=g)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = eval_loss()
    assert after < 0.9 * before


def test_ema_moves_towards_the_weights():
    a, b = SSSD(tiny_config()), SSSD(tiny_config())
    before = (a.init_conv.weight - b.init_conv.weight).abs().sum().item()
    update_ema(a, b, decay=0.5)
    after = (a.init_conv.weight - b.init_conv.weight).abs().sum().item()
    assert after == pytest.approx(0.5 * before, rel=1e-4)


def write_index_folder(root, splits):
    """A folder of WFDB records with an index.csv, like ../shared/ecg."""
    (root / "rec").mkdir(parents=True)
    rows = []
    rng = np.random.default_rng(0)
    t = np.arange(5000) / 500
    names = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    for i, split in enumerate(splits):
        beats = np.exp(-((np.mod(t, 0.8) - 0.4) ** 2) / 0.0005)
        signal = beats[:, None] * rng.uniform(0.5, 1.5, 8) + 0.01 * rng.normal(
            size=(5000, 8)
        )
        wfdb.wrsamp(
            f"r{i}",
            fs=500,
            units=["mV"] * 8,
            sig_name=names,
            p_signal=signal,
            fmt=["16"] * 8,
            write_dir=str(root / "rec"),
        )
        rhythm = "AF" if i % 3 == 1 else "SR"
        rows.append(
            {
                "path": f"rec/r{i}",
                "dataset": "fake",
                "record_id": str(i),
                "labels": rhythm,
                "rhythm": rhythm,
                "normal": str(int(i % 2 == 0)),
                "age": "",
                "sex": "",
                "split": split,
            }
        )
    with open(root / "index.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_train_never_reads_the_test_split(tmp_path):
    write_index_folder(tmp_path, ["train", "test", "val", "exclude", "train"])
    train, val = split_records(tmp_path)
    assert [r.record_id for r in train] == ["0", "4"]
    assert [r.record_id for r in val] == ["2"]


def test_train_command_checkpoints_and_resumes(tmp_path):
    data = tmp_path / "data"
    write_index_folder(data, ["train", "train", "train", "val", "test"])
    out = tmp_path / "run"
    common = ["--data", str(data), "--out", str(out), "--preset", "tiny"]
    common += ["--batch-size", "4", "--eval-every", "2", "--log-every", "1"]
    train_main(common + ["--max-steps", "3"])
    first = load_checkpoint(out / "last.pt")
    assert first.step == 3
    assert first.labels == ["SR", "AF", "NORM"]
    assert "optimizer" in first.extra
    assert first.extra["train"]["batch_size"] == 4
    train_main(common + ["--max-steps", "5", "--resume"])
    second = load_checkpoint(out / "last.pt")
    assert second.step == 5
    assert second.data_scale == first.data_scale
    with open(out / "log.csv") as fh:
        steps = [int(row["step"]) for row in csv.DictReader(fh)]
    assert steps == [1, 2, 3, 4, 5]
    with open(out / "log.csv") as fh:
        validation = {
            int(row["step"]): float(row["ema_val_loss"])
            for row in csv.DictReader(fh)
            if row["ema_val_loss"]
        }
    best = load_checkpoint(out / "best.pt")
    assert set(validation) == {2, 4}
    assert validation[best.step] == min(validation.values())  # log rounds to 1e-5
    assert best.extra["best_ema_val"] == pytest.approx(
        min(validation.values()), abs=1e-5
    )
    with pytest.raises(ValueError, match="does not exist"):
        train_main(common + ["--resume", "--out", str(tmp_path / "none")])


def test_a_run_continues_from_an_exported_checkpoint_with_a_fresh_optimizer(
    tmp_path,
):
    from generator.checkpoint import export_checkpoint

    data = tmp_path / "data"
    write_index_folder(data, ["train", "train", "train", "val"])
    common = ["--data", str(data), "--preset", "tiny", "--batch-size", "4"]
    train_main(common + ["--out", str(tmp_path / "first"), "--max-steps", "3"])
    export_checkpoint(tmp_path / "first" / "last.pt", tmp_path / "small.pt")
    new_run = ["--out", str(tmp_path / "second"), "--max-steps", "5"]
    train_main(common + new_run + ["--init-from", str(tmp_path / "small.pt")])
    second = load_checkpoint(tmp_path / "second" / "last.pt")
    assert second.step == 5 and second.labels == ["SR", "AF", "NORM"]
    with pytest.raises(ValueError, match="not both"):
        train_main(common + new_run + ["--resume", "--init-from", "x.pt"])


def test_a_run_that_changes_the_loss_forgets_the_best_validation_loss(tmp_path, capsys):
    data = tmp_path / "data"
    write_index_folder(data, ["train", "train", "train", "val"])
    out = tmp_path / "run"
    common = ["--data", str(data), "--out", str(out), "--preset", "tiny"]
    common += ["--batch-size", "4", "--eval-every", "2"]
    train_main(common + ["--max-steps", "2"])
    eight = load_checkpoint(out / "best.pt").extra["best_ema_val"]
    capsys.readouterr()
    # the same weights at a zero learning rate: only the loss's measure changes
    changed = ["--max-steps", "4", "--resume", "--loss-leads", "12", "--lr", "0.0"]
    train_main(common + changed)
    assert "the loss now counts 12 leads instead of 8" in capsys.readouterr().out
    best = load_checkpoint(out / "best.pt")
    assert best.step == 4 and best.extra["train"]["loss_leads"] == 12
    with open(out / "log.csv") as fh:
        rows = {r["step"]: r["ema_val_loss"] for r in csv.DictReader(fh)}
    assert best.extra["best_ema_val"] == pytest.approx(float(rows["4"]), abs=1e-5)
    assert best.extra["best_ema_val"] != pytest.approx(eight, abs=1e-5)


def test_a_folder_without_splits_holds_out_a_fixed_validation_share(tmp_path):
    write_index_folder(tmp_path, ["train"] * 30)
    train, val = split_records(tmp_path / "rec", "folder", val_fraction=0.2)
    again = split_records(tmp_path / "rec", "folder", val_fraction=0.2)
    assert len(train) + len(val) == 30
    assert 0 < len(val) < 15
    assert [r.record_id for r in val] == [r.record_id for r in again[1]]
    with pytest.raises(ValueError, match="allowed"):
        split_records(tmp_path, "edf")


def write_shape_folder(root, splits, seed: int = 1):
    """A ptbxl-shape folder: z-scored 12-lead ECGs in one array, and an index."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    t = np.arange(1000) / 100
    signals = np.empty((len(splits), 12, 1000), dtype=np.float16)
    for i in range(len(splits)):
        beat = np.exp(-((np.mod(t + rng.uniform(0, 0.8), 0.8) - 0.4) ** 2) / 0.0005)
        x = beat[None] * rng.uniform(0.5, 2, (12, 1)) + 0.05 * rng.normal(
            size=(12, 1000)
        )
        signals[i] = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    np.save(root / "signals_100hz.npy", signals)
    with open(root / "index.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", "rhythm", "normal", "split"])
        for i, split in enumerate(splits):
            writer.writerow([i, "AF" if i % 2 else "SR", "0", split])


def test_shape_data_teach_shape_under_their_own_label_and_never_from_test(tmp_path):
    from generator.api import checkpoint_labels, generate
    from generator.data import SHAPE_LABEL, load_shape_set

    shape = tmp_path / "shape"
    write_shape_folder(shape, ["train", "test", "train", "exclude", "val"])
    lead_sd = np.linspace(0.1, 0.8, 8)
    loaded = load_shape_set(shape, ["SR", "AF", "NORM", SHAPE_LABEL], lead_sd)
    assert len(loaded.signals) == 2  # rows 0 and 2: train only
    np.testing.assert_allclose(
        np.stack([s.std(axis=1) for s in loaded.signals]),
        np.tile(lead_sd, (2, 1)),
        rtol=0.02,
    )
    assert all(SHAPE_LABEL in names for names in loaded.names)
    with pytest.raises(ValueError, match="test split"):
        load_shape_set(shape, [SHAPE_LABEL], lead_sd, splits=["train", "test"])

    data = tmp_path / "data"
    write_index_folder(data, ["train", "train", "train", "val"])
    common = ["--data", str(data), "--preset", "tiny", "--batch-size", "4"]
    train_main(common + ["--out", str(tmp_path / "plain"), "--max-steps", "2"])
    run = ["--out", str(tmp_path / "shape-run"), "--max-steps", "4"]
    plain = str(tmp_path / "plain" / "last.pt")
    train_main(
        common
        + run
        + ["--init-from", plain, "--shape-data", str(shape)]
        + ["--dropout", "0.1"]
    )
    ckpt = load_checkpoint(tmp_path / "shape-run" / "last.pt")
    assert ckpt.labels == ["SR", "AF", "NORM", SHAPE_LABEL]
    assert ckpt.model_config.dropout == 0.1
    # The old labels' embedding is where it was; the new one started at zero.
    before = load_checkpoint(plain).ema["label_embedding.weight"]
    assert ckpt.ema["label_embedding.weight"].shape[0] == before.shape[0] + 1
    checkpoint = tmp_path / "shape-run" / "last.pt"
    assert checkpoint_labels(checkpoint) == ["SR", "AF", "NORM"]
    with pytest.raises(ValueError, match="never asked for"):
        generate(checkpoint, ["SR", SHAPE_LABEL], n=1, seed=0, steps=2, device="cpu")

    # with the voltage input, shape records train on voltages the prior draws
    sized = ["--out", str(tmp_path / "sized"), "--max-steps", "2", "--amplitude"]
    train_main(common + sized + ["--init-from", plain, "--shape-data", str(shape)])
    sized_ckpt = load_checkpoint(tmp_path / "sized" / "last.pt")
    assert sized_ckpt.extra["train"]["shape_voltage"] == "drawn"
    assert sized_ckpt.amplitude_prior() is not None
    with pytest.raises(ValueError, match="--shape-voltage must be one of"):
        train_main(common + sized + ["--resume", "--shape-voltage", "loud"])


def write_voltage_folder(root, rows):
    """Millivolt WFDB records padded with zeros at both ends, as CODE-15% ships
    them, with an index.csv of (name, split, duplicate_of) rows."""
    (root / "records").mkdir(parents=True)
    t = np.arange(4000) / 400
    beats = np.exp(-((np.mod(t, 0.9) - 0.4) ** 2) / 0.0005)
    for i, (name, _split, _dup) in enumerate(rows):
        signal = np.zeros((4096, 12))
        signal[48:4048] = beats[:, None] * (1.0 + 0.1 * i) + 0.05
        wfdb.wrsamp(
            name,
            fs=400,
            units=["mV"] * 12,
            sig_name=["I", "II", "III", "aVR", "aVL", "aVF"]
            + [f"V{k}" for k in range(1, 7)],
            p_signal=signal,
            fmt=["16"] * 12,
            write_dir=str(root / "records"),
        )
    with open(root / "index.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "split", "duplicate_of"])
        for name, split, dup in rows:
            writer.writerow([f"records/{name}", split, dup])


def test_voltage_data_are_unlabelled_trimmed_and_never_from_test(tmp_path):
    from generator.data import load_voltage_set, unlabelled, voltage_records

    folder = tmp_path / "code15"
    write_voltage_folder(
        folder,
        [("a", "train", ""), ("b", "test", ""), ("c", "train", "a")]
        + [("d", "train", "")],
    )
    assert [p.name for p in voltage_records(folder)] == ["a", "d"]
    loaded = load_voltage_set([folder], ["SR", "AF", "NORM"])
    assert len(loaded.signals) == 2
    # The zero padding is gone: the 10.0 s recorded, as if never padded.
    raw = read_wfdb(folder / "records" / "a")
    unpadded = reduce_to_8(canonicalize(raw.signal[:, 48:4048], raw.fs))
    np.testing.assert_allclose(loaded.signals[0], unpadded, atol=1e-5)
    padded = reduce_to_8(canonicalize(raw.signal, raw.fs))
    assert np.abs(padded - unpadded).max() > 0.01
    assert not loaded.labels.any() and loaded.names == [[], []]
    assert unlabelled(torch.from_numpy(loaded.labels)).all()
    assert not unlabelled(torch.tensor([[0.0, 1.0, 0.0]])).any()
    # A folder without an index gives every record under it.
    plain = tmp_path / "plain"
    write_voltage_folder(plain, [("x", "", ""), ("y", "", "")])
    (plain / "index.csv").unlink()
    assert [p.name for p in voltage_records(plain)] == ["x", "y"]
    with pytest.raises(ValueError, match="no such folder"):
        voltage_records(tmp_path / "missing")

    data = tmp_path / "data"
    write_index_folder(data, ["train", "train", "train", "val"])
    train_main(
        ["--data", str(data), "--preset", "tiny", "--batch-size", "4"]
        + ["--out", str(tmp_path / "run"), "--max-steps", "2"]
        + ["--voltage-data", f"{folder},{plain}"]
    )
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt.extra["train"]["voltage_data"] == f"{folder},{plain}"
