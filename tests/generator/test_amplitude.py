"""Per-lead voltage as an input: the measure, the prior it is drawn from, and a
model that takes it."""

import numpy as np
import pytest
import torch

from generator.amplitude import LOG_LIMIT, AmplitudePrior, log_amplitude
from generator.api import generate, lead_amplitudes
from generator.checkpoint import export_checkpoint, load_checkpoint
from generator.data import first_windows, load_signals, split_records
from generator.model import SSSD
from generator.rhythm import POOLED
from generator.train import NEW_LR_SCALE, add_inputs
from generator.train import main as train_main

from .conftest import tiny_config
from .test_train import write_index_folder


def test_log_amplitude_is_each_leads_sd_against_the_reference():
    t = np.arange(1000) / 100
    sine = np.sin(2 * np.pi * 1.3 * t)  # SD 1/sqrt(2) over whole cycles
    x = torch.from_numpy(np.stack([sine * a for a in (1, 2, 0.5)])[None])
    got = log_amplitude(x, [1 / np.sqrt(2), 1 / np.sqrt(2), 0.5 / np.sqrt(2)])
    assert got.shape == (1, 3)
    assert np.allclose(got.numpy(), [[0.0, np.log(2), 0.0]], atol=0.01)
    flat = log_amplitude(torch.zeros(1, 3, 1000), [1.0, 1.0, 1.0])
    assert torch.isfinite(flat).all()  # floored, not -inf
    with pytest.raises(ValueError, match=r"expected \(B, 2, L\)"):
        log_amplitude(x, [1.0, 1.0])


def _records(rng, n, gains):
    """``n`` windows (n, 8, 1000) whose leads have SD near ``gains`` (8,) mV."""
    noise = rng.standard_normal((n, 8, 1000))
    spread = np.exp(0.1 * rng.standard_normal((n, 8, 1)))
    return noise * np.asarray(gains)[None, :, None] * spread


def test_the_prior_draws_each_rhythms_voltages_and_keeps_no_record():
    rng = np.random.default_rng(0)
    sr = _records(rng, 400, [0.1] * 8)
    af = _records(rng, 300, [0.2] * 8)
    rare = _records(rng, 3, [0.4] * 8)  # too few for a group of its own
    few = _records(rng, 20, [0.4] * 8)  # a group, but half pooled
    windows = np.concatenate([sr, af, rare, few])
    labels = [["SR", "NORM"]] * 400 + [["AF"]] * 300 + [["AFL"]] * 3
    labels += [["PACED"]] * 20
    prior = AmplitudePrior.fit(windows, labels, reference=[0.1] * 8)
    assert set(prior.groups) == {"SR", "AF", "PACED", POOLED}
    draws = {
        name: np.stack([prior.draw([name], rng) for _ in range(400)])
        for name in ("SR", "AF", "SB", "AFL", "PACED")
    }
    pooled = np.asarray(prior.groups[POOLED].mean)
    # a large group draws close to its own voltages (20 pooled records of 400)
    assert np.abs(draws["SR"].mean(axis=0) - 0.05 * pooled).max() < 0.05
    assert np.allclose(draws["AF"].mean(axis=0), np.log(2), atol=0.05)
    assert np.allclose(draws["SR"].std(axis=0), 0.1, atol=0.03)
    assert abs(draws["SB"].mean() - draws["SR"].mean()) < 0.05  # sinus: SR's
    assert 0 < draws["AFL"].mean() < np.log(2)  # pooled
    # a group of 20 records: halfway between its own fit and the pooled one
    halfway = 0.5 * np.log(4) + 0.5 * pooled
    assert np.allclose(draws["PACED"].mean(axis=0), halfway, atol=0.06)
    assert np.abs(np.concatenate(list(draws.values()))).max() <= LOG_LIMIT
    # summaries only: a mean and an 8 x 8 factor per group, never a record's values
    stored = prior.to_dict()
    for group in stored["groups"].values():
        assert len(group["mean"]) == 8 and np.shape(group["chol"]) == (8, 8)
    assert AmplitudePrior.from_dict(stored) == prior
    with pytest.raises(ValueError, match="unknown amplitude prior format"):
        AmplitudePrior.from_dict({"format": "x"})


def test_an_amplitude_model_needs_the_amplitude_and_a_plain_one_refuses_it():
    plain, sized = SSSD(tiny_config()), SSSD(tiny_config(amplitude_input=True))
    x, t, y = torch.randn(2, 8, 200), torch.zeros(2).long(), torch.zeros(2, 3)
    assert sized(x, t, y, amplitude=torch.zeros(2, 8)).shape == (2, 8, 200)
    with pytest.raises(ValueError, match=r"amplitude must be \(2, 8\)"):
        sized(x, t, y)
    with pytest.raises(ValueError, match="no amplitude"):
        plain(x, t, y, amplitude=torch.zeros(2, 8))


def test_adding_the_amplitude_input_leaves_the_network_unchanged_until_trained():
    torch.manual_seed(0)
    plain = SSSD(tiny_config())
    torch.nn.init.normal_(plain.out_conv.weight, std=0.2)
    sized = SSSD(tiny_config(amplitude_input=True))
    sized.load_state_dict(add_inputs(plain.state_dict(), sized.cfg))
    x, t, y = torch.randn(3, 8, 200), torch.tensor([0, 50, 99]), torch.eye(3)
    with torch.no_grad():
        expected = plain(x, t, y)
        assert torch.allclose(expected, sized(x, t, y, amplitude=torch.randn(3, 8)))
        torch.nn.init.normal_(sized.amplitude_mlp[2].weight)  # as training would
        low = sized(x, t, y, amplitude=torch.full((3, 8), -0.5))
        high = sized(x, t, y, amplitude=torch.full((3, 8), 0.5))
    assert not torch.allclose(low, high)


def test_amplitude_training_stores_a_prior_and_generation_draws_from_it(tmp_path):
    data = tmp_path / "data"
    write_index_folder(data, ["train"] * 6 + ["val"])
    common = ["--data", str(data), "--preset", "tiny", "--batch-size", "4"]
    train_main(common + ["--out", str(tmp_path / "plain"), "--max-steps", "2"])
    out = tmp_path / "sized"
    extend = ["--init-from", str(tmp_path / "plain" / "last.pt"), "--amplitude"]
    train_main(common + ["--out", str(out), "--max-steps", "4", *extend])
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt.step == 4 and ckpt.model_config.amplitude_input
    new = ckpt.extra["new_parameters"]
    assert new and all(name.startswith("amplitude_mlp.") for name in new)
    scales = [g["lr_scale"] for g in ckpt.extra["optimizer"]["param_groups"]]
    assert sorted(set(scales)) == [1.0, NEW_LR_SCALE]

    # the prior is the training records' voltages, per rhythm where enough
    train_set = load_signals(split_records(data)[0], ckpt.labels)
    windows = first_windows(train_set, 200)[0].numpy()
    expected = AmplitudePrior.fit(windows, train_set.names, train_set.lead_sd())
    assert ckpt.amplitude_prior() == expected

    small = export_checkpoint(out / "last.pt", tmp_path / "small.pt")
    assert load_checkpoint(small).amplitude == ckpt.amplitude
    first, _ = generate(small, ["SR"], n=3, seed=1, steps=3, device="cpu")
    again, _ = generate(small, ["SR"], n=3, seed=1, steps=3, device="cpu")
    guided, _ = generate(small, ["SR"], n=3, seed=1, steps=3, guidance=2.0)
    assert np.array_equal(first, again) and guided.shape == first.shape
    drawn = lead_amplitudes(ckpt, ["SR"], seed=1, n=3)
    assert drawn.shape == (3, 8) and not torch.allclose(drawn[0], drawn[1])
    train_main(common + ["--out", str(out), "--max-steps", "5", "--resume"])
    resumed = load_checkpoint(out / "last.pt")
    assert resumed.step == 5 and resumed.amplitude == ckpt.amplitude
