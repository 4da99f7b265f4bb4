"""Beat pooling: each block sees its features' mean over the ECG's beats."""

import numpy as np
import pytest
import torch

from generator.api import generate
from generator.checkpoint import load_checkpoint
from generator.model import SSSD, beat_bins, beat_mean
from generator.rhythm import timing_channels
from generator.train import add_inputs
from generator.train import main as train_main

from .conftest import tiny_config
from .test_train import write_index_folder


def test_beat_mean_averages_the_same_distance_from_r_over_the_beats():
    fs, length, patch = 100, 200, 4
    peaks = np.array([22, 102, 182])  # every 0.8 s, at the middle of patches
    timing = torch.from_numpy(timing_channels(peaks, length, fs))[None]
    bins = beat_bins(timing, patch)  # (1, 50, n_bins)
    # patches 5, 25 and 45 hold a peak at their middle sample: one bin, offset 0
    at_peaks = bins[0, [5, 25, 45]]
    assert (at_peaks == at_peaks[0]).all() and at_peaks.sum() == 3
    # a patch 0.4 s from both its neighbours' peaks is in a bin
    assert bins[0].sum(dim=1).min() == 1

    # beats of three heights: every beat position reads their mean
    features = torch.zeros(1, 1, 50)
    features[0, 0, [5, 25, 45]] = torch.tensor([1.0, 2.0, 6.0])
    pooled = beat_mean(features, bins)
    assert pooled[0, 0, [5, 25, 45]].tolist() == pytest.approx([3.0, 3.0, 3.0])
    assert pooled[0, 0, [4, 6, 24]].abs().max() == 0  # other distances: other bins

    # far from every R peak (a long pause): in no bin, nothing pooled
    slow = torch.from_numpy(timing_channels(np.array([10, 190]), length, fs))[None]
    far = beat_bins(slow, patch)[0].sum(dim=1)
    assert far[25] == 0 and far[2] == 1


def test_adding_beat_pooling_leaves_the_network_unchanged():
    torch.manual_seed(0)
    timed = SSSD(tiny_config(timing_channels=2))
    torch.nn.init.normal_(timed.out_conv.weight, std=0.2)
    pooled = SSSD(tiny_config(timing_channels=2, beat_pool=True))
    pooled.load_state_dict(add_inputs(timed.state_dict(), pooled.cfg))
    x, t, y = torch.randn(2, 8, 200), torch.tensor([0, 50]), torch.eye(2, 3)
    beats = ([20, 90], [40, 150])
    timing = torch.from_numpy(
        np.stack([timing_channels(np.array(p), 200, 100) for p in beats])
    )
    with torch.no_grad():
        expected = timed(x, t, y, timing=timing)
        assert torch.allclose(pooled(x, t, y, timing=timing), expected, atol=1e-6)
        # once its weights move, the beats' mean reaches the output
        for block in pooled.blocks:
            torch.nn.init.normal_(block.beat_pool_conv.weight, std=0.5)
        assert not torch.allclose(pooled(x, t, y, timing=timing), expected, atol=1e-4)
    with pytest.raises(ValueError, match="needs timing_channels"):
        tiny_config(beat_pool=True)


def test_a_timed_checkpoint_learns_beat_pooling_from_the_command_line(tmp_path):
    data = tmp_path / "data"
    write_index_folder(data, ["train"] * 4 + ["val"])
    common = ["--data", str(data), "--preset", "tiny", "--batch-size", "4"]
    first = tmp_path / "timed"
    train_main(common + ["--out", str(first), "--max-steps", "2", "--timing"])
    extend = ["--init-from", str(first / "last.pt"), "--beat-pool"]
    train_main(common + ["--out", str(tmp_path / "pool"), "--max-steps", "4", *extend])
    ckpt = load_checkpoint(tmp_path / "pool" / "last.pt")
    assert ckpt.model_config.beat_pool and ckpt.step == 4
    assert "blocks.0.beat_pool_conv.weight" in ckpt.extra["new_parameters"]
    ecgs, _ = generate(tmp_path / "pool" / "last.pt", ["SR"], n=2, seed=1, steps=2)
    assert ecgs.shape == (2, 12, 200) and np.isfinite(ecgs).all()
    with pytest.raises(ValueError, match="--beat-pool needs --timing"):
        train_main(common + ["--out", str(tmp_path / "x"), "--beat-pool"])
