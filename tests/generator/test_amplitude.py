"""Per-lead voltage as an input: the measure, the prior it is drawn from, and a
model that takes it."""

import numpy as np
import pytest
import torch

from generator.amplitude import (
    LOG_LIMIT,
    MEASURED_LEADS,
    AmplitudePrior,
    amplitude_input,
    axis_z,
    derived_sd,
    log_amplitude,
    reference_sd,
    set_voltage,
)
from generator.api import generate, lead_amplitudes
from generator.checkpoint import export_checkpoint, load_checkpoint
from generator.data import SHAPE_LABEL, first_windows, load_signals, split_records
from generator.model import SSSD
from generator.rhythm import POOLED
from generator.train import (
    NEW_LR_SCALE,
    add_inputs,
    draw_shape_voltage,
    widen_amplitude,
)
from generator.train import main as train_main

from .conftest import tiny_config
from .test_train import write_index_folder


def test_log_amplitude_is_each_leads_sd_against_the_reference():
    t = np.arange(1000) / 100
    sine = np.sin(2 * np.pi * 1.3 * t)  # SD 1/sqrt(2) over whole cycles
    gains = (1, 2, 0.5, 1, 1, 1, 1, 1)  # I, aVF, V1-V6
    x = torch.from_numpy(np.stack([sine * a for a in gains])[None])
    unit = 1 / np.sqrt(2)
    got = log_amplitude(x, [unit * g for g in (1, 1, 0.5, 1, 1, 1, 1, 2)])
    assert got.shape == (1, 8)
    expected = [0.0, np.log(2), 0.0, 0, 0, 0, 0, np.log(0.5)]
    assert np.allclose(got.numpy(), [expected], atol=0.01)
    flat = log_amplitude(torch.zeros(1, 8, 1000), [1.0] * 8)
    assert torch.isfinite(flat).all()  # floored, not -inf
    with pytest.raises(ValueError, match="measured on"):
        log_amplitude(x, [1.0, 1.0])
    with pytest.raises(ValueError, match=r"expected \(B, 8, L\)"):
        log_amplitude(x[:, :3], [1.0] * 8)


def test_twelve_leads_tell_the_frontal_axis_the_generated_eight_cannot():
    """I and aVF of the same size: the derived leads differ by whether they have
    the same shape (normal axis) or opposite shapes (left axis)."""
    t = np.arange(1000) / 100
    sine = np.sin(2 * np.pi * 1.3 * t)
    precordial = [sine] * 6
    normal = torch.from_numpy(np.stack([sine, sine, *precordial])[None])
    left = torch.from_numpy(np.stack([sine, -sine, *precordial])[None])
    reference = [1 / np.sqrt(2)] * 12
    assert MEASURED_LEADS[12][8:] == ("II", "III", "aVR", "aVL")
    # II = I/2 + aVF, III = aVF - I/2, aVR = -(3I/4 + aVF/2), aVL = 3I/4 - aVF/2
    same = np.exp(log_amplitude(normal, reference)[0, 8:].numpy())
    opposite = np.exp(log_amplitude(left, reference)[0, 8:].numpy())
    assert np.allclose(same, [1.5, 0.5, 1.25, 0.25], atol=0.01)
    assert np.allclose(opposite, [0.5, 1.5, 0.25, 1.25], atol=0.01)
    # the 8 generated leads' voltages are the same for both axes
    eight = [1 / np.sqrt(2)] * 8
    assert torch.allclose(log_amplitude(normal, eight), log_amplitude(left, eight))


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
    reference = reference_sd(torch.from_numpy(windows), 12)
    expected = AmplitudePrior.fit(windows, train_set.names, reference)
    assert ckpt.amplitude_prior() == expected
    assert ckpt.model_config.amplitude_leads == 12  # a new input's default

    small = export_checkpoint(out / "last.pt", tmp_path / "small.pt")
    assert load_checkpoint(small).amplitude == ckpt.amplitude
    first, _ = generate(small, ["SR"], n=3, seed=1, steps=3, device="cpu")
    again, _ = generate(small, ["SR"], n=3, seed=1, steps=3, device="cpu")
    guided, _ = generate(small, ["SR"], n=3, seed=1, steps=3, guidance=2.0)
    assert np.array_equal(first, again) and guided.shape == first.shape
    drawn = lead_amplitudes(ckpt, ["SR"], seed=1, n=3)
    assert drawn.shape == (3, 12) and not torch.allclose(drawn[0], drawn[1])
    train_main(common + ["--out", str(out), "--max-steps", "5", "--resume"])
    resumed = load_checkpoint(out / "last.pt")
    assert resumed.step == 5 and resumed.amplitude == ckpt.amplitude


def test_a_model_told_eight_leads_is_extended_to_twelve_unchanged(tmp_path):
    cfg = tiny_config(amplitude_input=True, amplitude_leads=8)
    eight = SSSD(cfg).eval()
    for p in eight.amplitude_mlp.parameters():  # as if trained
        torch.nn.init.normal_(p, std=0.1)
    twelve = SSSD(tiny_config(amplitude_input=True, amplitude_leads=12)).eval()
    twelve.load_state_dict(widen_amplitude(eight.state_dict(), 12))
    x, t = torch.randn(2, 8, cfg.length), torch.tensor([3, 7])
    y = torch.zeros(2, cfg.n_labels)
    told = torch.randn(2, 12)
    with torch.no_grad():  # the four new inputs change nothing until trained
        assert torch.allclose(
            twelve(x, t, y, amplitude=told), eight(x, t, y, amplitude=told[:, :8])
        )
    with pytest.raises(ValueError, match="narrow"):
        widen_amplitude(twelve.state_dict(), 8)

    # through training: the first eight references keep their meaning
    data = tmp_path / "data"
    write_index_folder(data, ["train"] * 6 + ["val"])
    common = ["--data", str(data), "--preset", "tiny", "--batch-size", "4"]
    first = tmp_path / "eight"
    train_main(
        common
        + [
            "--out",
            str(first),
            "--max-steps",
            "2",
            "--amplitude",
            "--amplitude-leads",
            "8",
        ]
    )
    old = load_checkpoint(first / "last.pt")
    assert (
        old.model_config.amplitude_leads == 8 and len(old.amplitude["reference"]) == 8
    )
    extend = ["--init-from", str(first / "last.pt"), "--amplitude-leads", "12"]
    train_main(
        common + ["--out", str(tmp_path / "twelve"), "--max-steps", "4", *extend]
    )
    new = load_checkpoint(tmp_path / "twelve" / "last.pt")
    assert new.model_config.amplitude_leads == 12 and new.step == 4
    # the widened layer learns at the rate of added weights
    assert "amplitude_mlp.0.weight" in new.extra["new_parameters"]
    assert new.amplitude["reference"][:8] == old.amplitude["reference"]
    assert len(new.amplitude_prior().draw(["SR"], np.random.default_rng(0))) == 12


def test_a_twelve_lead_prior_asks_only_for_limb_leads_an_ecg_can_have():
    """Drawn one by one, the 12 voltages could ask for III and aVL no pair of I
    and aVF gives; the prior draws I, aVF and how alike they are instead, and
    derives the rest (II = I/2 + aVF, III = aVF - I/2, ...)."""
    rng = np.random.default_rng(3)
    n = 300
    lead_i = rng.standard_normal((n, 1000))
    alike = rng.uniform(0.2, 0.9, (n, 1))  # every record's own axis
    avf = alike * lead_i + np.sqrt(1 - alike**2) * rng.standard_normal((n, 1000))
    windows = np.concatenate(
        [lead_i[:, None], avf[:, None], rng.standard_normal((n, 6, 1000))], axis=1
    ) * np.exp(0.3 * rng.standard_normal((n, 8, 1)))
    reference = reference_sd(torch.from_numpy(windows), 12)
    prior = AmplitudePrior.fit(windows, [["SR"]] * n, reference)
    assert prior.axis and len(prior.groups[POOLED].mean) == 9
    again = AmplitudePrior.from_dict(prior.to_dict())
    assert again == prior and prior.to_dict()["format"] == "amplitude-model-2"

    drawn = np.stack([prior.draw(["SR"], rng) for _ in range(500)])
    sd = np.exp(drawn) * np.asarray(reference)
    sd_i, sd_avf, sd_iii = sd[:, 0], sd[:, 1], sd[:, 9]
    # the I-aVF correlation the drawn SDs of I, aVF and III imply
    implied = (sd_avf**2 + sd_i**2 / 4 - sd_iii**2) / (sd_i * sd_avf)
    assert np.all(np.abs(implied) <= 1 + 1e-4)
    assert 0.35 < np.median(implied) < 0.75  # the records' axes, not noise
    # and the derived leads are what I, aVF and that correlation make
    expected = derived_sd(sd_i, sd_avf, np.arctanh(np.clip(implied, -0.999, 0.999)))
    assert np.allclose(expected, sd[:, 8:], rtol=1e-3)


def test_the_axis_input_tells_the_i_avf_correlation_after_the_twelve_voltages(
    tmp_path,
):
    t = np.arange(1000) / 100
    sine = np.sin(2 * np.pi * 1.3 * t)
    x = torch.from_numpy(np.stack([sine] * 8)[None])  # I and aVF alike
    x[0, 1] = -x[0, 1]  # now opposed
    reference = [0.7] * 12
    told = amplitude_input(x, reference, axis=True)
    assert told.shape == (1, 13)
    assert torch.equal(told[:, :12], amplitude_input(x, reference, axis=False))
    assert told[0, 12] == axis_z(x)[0] and told[0, 12] < -3  # correlation -1

    # the prior draws it where the derived voltages came from, same draw otherwise
    rng = np.random.default_rng(0)
    windows = x.numpy().repeat(6, 0) * rng.uniform(0.5, 2, (6, 8, 1))
    windows[:3, 1] *= -1  # half of them with I and aVF alike
    prior = AmplitudePrior.fit(windows, [["SR"]] * 6, reference)
    with_axis = prior.draw(["SR"], np.random.default_rng(1), axis=True)
    plain = prior.draw(["SR"], np.random.default_rng(1))
    assert with_axis.shape == (13,) and np.array_equal(with_axis[:12], plain)
    sd = np.exp(with_axis[:12]) * 0.7
    assert np.allclose(derived_sd(sd[0], sd[1], with_axis[12]), sd[8:], rtol=1e-4)
    eight = AmplitudePrior.fit(windows, [["SR"]] * 6, reference[:8])
    with pytest.raises(ValueError, match="no axis"):
        eight.draw(["SR"], rng, axis=True)

    # a trained model told 12 leads learns the axis from zero: unchanged at first
    cfg = tiny_config(amplitude_input=True, amplitude_leads=12)
    twelve = SSSD(cfg)
    axis_cfg = tiny_config(
        amplitude_input=True, amplitude_leads=12, amplitude_axis=True
    )
    widened = SSSD(axis_cfg)
    widened.load_state_dict(widen_amplitude(twelve.state_dict(), 13))
    noisy, steps = torch.randn(2, 8, cfg.length), torch.tensor([3, 7])
    labels, told = torch.zeros(2, cfg.n_labels), torch.randn(2, 13)
    with torch.no_grad():
        assert torch.allclose(
            widened(noisy, steps, labels, amplitude=told),
            twelve(noisy, steps, labels, amplitude=told[:, :12]),
        )
    with pytest.raises(ValueError, match="needs amplitude_leads 12"):
        tiny_config(amplitude_input=True, amplitude_leads=8, amplitude_axis=True)

    # through the command line, and generation draws 13 values for it
    data = tmp_path / "data"
    write_index_folder(data, ["train"] * 6 + ["val"])
    common = ["--data", str(data), "--preset", "tiny", "--batch-size", "4"]
    first = tmp_path / "twelve"
    train_main(common + ["--out", str(first), "--max-steps", "2", "--amplitude"])
    extend = ["--init-from", str(first / "last.pt"), "--amplitude-axis"]
    train_main(common + ["--out", str(tmp_path / "axis"), "--max-steps", "4", *extend])
    ckpt = load_checkpoint(tmp_path / "axis" / "last.pt")
    assert ckpt.model_config.amplitude_axis and ckpt.step == 4
    assert "amplitude_mlp.0.weight" in ckpt.extra["new_parameters"]
    assert lead_amplitudes(ckpt, ["SR"], seed=1, n=2).shape == (2, 13)
    ecgs, _ = generate(tmp_path / "axis" / "last.pt", ["SR"], n=2, seed=1, steps=2)
    assert ecgs.shape == (2, 12, cfg.length) and np.isfinite(ecgs).all()
    with pytest.raises(ValueError, match="needs --amplitude"):
        train_main(common + ["--out", str(tmp_path / "x"), "--amplitude-axis"])


def test_set_voltage_gives_each_lead_the_asked_sd_and_keeps_its_shape():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(0.3, 0.05, (2, 8, 500)))
    reference = [0.1] * 8
    asked = torch.log(torch.tensor([[1.5] * 8, [0.5] * 8], dtype=torch.float64))
    out = set_voltage(x, asked, reference)
    assert torch.allclose(
        out.std(dim=2)[0], torch.full((8,), 0.15, dtype=torch.float64)
    )
    assert torch.allclose(
        out.std(dim=2)[1], torch.full((8,), 0.05, dtype=torch.float64)
    )
    assert torch.allclose(out.mean(dim=2), x.mean(dim=2))  # the baseline stays
    shape = torch.corrcoef(torch.stack([out[0, 3], x[0, 3]]))[0, 1]
    assert shape > 0.999


def test_shape_records_train_on_drawn_voltages_millivolt_records_on_their_own():
    rng = np.random.default_rng(1)
    windows = rng.normal(0, 0.15, (40, 8, 300))
    names = [["SR"]] * 40
    prior = AmplitudePrior.fit(
        windows, names, reference_sd(torch.from_numpy(windows), 12)
    )
    vocabulary = ["SR", "AF", SHAPE_LABEL]
    x = torch.from_numpy(rng.normal(0, 0.15, (6, 8, 300))).float()
    labels = torch.tensor([[1, 0, 1], [1, 0, 0]] * 3, dtype=torch.float32)
    out = draw_shape_voltage(x, labels, vocabulary, prior, np.random.default_rng(2))
    shape_rows, own_rows = [0, 2, 4], [1, 3, 5]
    assert torch.equal(out[own_rows], x[own_rows])
    ratio = out[shape_rows].std(dim=2) / x[shape_rows].std(dim=2)
    assert (ratio - 1).abs().max() > 0.05  # rescaled, lead by lead
    assert not torch.allclose(ratio[:, 0], ratio[:, 1])
    asked = prior.draw(["SR"], np.random.default_rng(2))[:8]
    told = log_amplitude(out[:1].double(), prior.reference[:8])[0].numpy()
    assert np.allclose(told, asked, atol=1e-5)  # the first draw is the first row's
