"""Voltage calibration: a network that draws a lead short is told more, and a
calibrated checkpoint generates with it."""

import numpy as np
import pytest
import torch

from generator.amplitude import LOG_LIMIT, AmplitudePrior, reference_sd
from generator.api import LoadedModel, generate, lead_amplitudes
from generator.calibrate import calibrate
from generator.calibrate import main as calibrate_main
from generator.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from generator.diffusion import DIFFUSION_PRESETS, GaussianDiffusion
from generator.ecg import INDEPENDENT_LEADS
from generator.model import SSSD

from .conftest import TINY_LABELS, tiny_config

DATA_SCALE = 0.25


def fitted_prior(n_leads: int, seed: int = 0) -> AmplitudePrior:
    """A prior fitted on random SR and AF windows of varied voltage."""
    rng = np.random.default_rng(seed)
    gains = np.exp(rng.normal(0, 0.3, (60, 8, 1)))
    windows = rng.normal(0, 0.15, (60, 8, 300)) * gains
    names = [["SR"]] * 40 + [["AF"]] * 20
    reference = reference_sd(torch.from_numpy(windows), n_leads)
    return AmplitudePrior.fit(windows, names, reference)


class DrawsShort(torch.nn.Module):
    """A denoiser with a known fault: whatever the noise, it predicts one fixed
    ECG shape, each lead at ``gain`` times the SD it is told."""

    def __init__(self, cfg, diffusion, reference, gain):
        super().__init__()
        self.cfg, self.diffusion = cfg, diffusion
        self.scale = torch.tensor(reference[:8]) * torch.tensor(gain) / DATA_SCALE
        t = torch.arange(cfg.length) / 100
        wave = torch.stack(
            [torch.sin(2 * torch.pi * (1 + k / 3) * t) for k in range(8)]
        )
        wave = wave - wave.mean(dim=1, keepdim=True)
        self.wave = wave / wave.std(dim=1, keepdim=True)  # (8, L), each SD 1

    def forward(self, x_t, t, labels, timing=None, amplitude=None):
        sd = torch.exp(amplitude[:, :8]) * self.scale  # (B, 8) model units
        x_0 = sd[:, :, None] * self.wave
        eps = self.diffusion.eps_from_x0(x_t, t, x_0)
        return self.diffusion.target(x_0, t, eps)


def test_a_lead_drawn_short_is_told_more_until_it_is_drawn_as_asked():
    prior = fitted_prior(8)
    cfg = tiny_config(amplitude_input=True, amplitude_leads=8)
    diffusion = GaussianDiffusion(DIFFUSION_PRESETS["tiny"])
    gain = [1.0] * 8
    gain[INDEPENDENT_LEADS.index("aVF")] = 0.7
    gain[INDEPENDENT_LEADS.index("V2")] = 1.25
    ckpt = Checkpoint(
        model_config=cfg,
        diffusion_config=DIFFUSION_PRESETS["tiny"],
        labels=TINY_LABELS,
        data_scale=DATA_SCALE,
        fs=100,
        model={},
        ema={},
        step=1,
    )
    loaded = LoadedModel(
        checkpoint=ckpt,
        model=DrawsShort(cfg, diffusion, prior.reference, gain),
        diffusion=diffusion,
        sha256="",
        device=torch.device("cpu"),
        rhythm=None,
        amplitude=prior,
    )
    rounds = calibrate(
        loaded, label_sets=[["SR"], ["AF"]], n_per_label=20, rounds=2, steps=4
    )
    first, second = rounds
    assert np.allclose(first.calibration, 0)
    assert np.allclose(first.lead_ratios, gain, atol=1e-3)  # the fault, measured
    assert np.allclose(second.calibration, -np.log(gain), atol=1e-3)
    assert np.allclose(second.lead_ratios, 1, atol=1e-3)  # and mended
    assert second.worst < 1e-3 < first.worst
    # told: the drawn value plus the calibration, within the drawing limits
    calibrated = prior.calibrated(second.calibration)
    rng = np.random.default_rng(3)
    values = calibrated.sample(["SR"], rng)
    told = calibrated.tell(values)
    expected = np.clip(values + np.asarray(second.calibration), -LOG_LIMIT, LOG_LIMIT)
    assert np.allclose(told, expected, atol=1e-6)
    assert np.allclose(
        calibrated.draw(["SR"], np.random.default_rng(3)), told, atol=1e-6
    )


def test_a_calibration_travels_in_the_prior_and_must_fit_it():
    prior = fitted_prior(12)
    assert prior.width == 9  # 8 leads and the axis
    calibrated = prior.calibrated([0.1] * 8 + [-0.2])
    again = AmplitudePrior.from_dict(calibrated.to_dict())
    assert again == calibrated and again != prior
    assert AmplitudePrior.from_dict(prior.to_dict()).calibration == ()
    with pytest.raises(ValueError, match="has 9 values, not 8"):
        prior.calibrated([0.1] * 8)
    # a lower axis z asks for a less concordant I and aVF: larger III and aVL
    rng = np.random.default_rng(0)
    values = prior.sample(["SR"], rng)
    plain = prior.tell(values, axis=True)
    lowered = prior.calibrated([0] * 8 + [-0.5]).tell(values, axis=True)
    assert np.allclose(plain[:8], lowered[:8])
    assert lowered[12] == pytest.approx(plain[12] - 0.5)
    iii, avl = 9, 11  # II, III, aVR, aVL after the 8 generated leads
    assert lowered[iii] > plain[iii] and lowered[avl] > plain[avl]


def test_calibrate_writes_a_checkpoint_that_generates_with_its_calibration(
    tmp_path, capsys
):
    torch.manual_seed(0)
    model = SSSD(tiny_config(amplitude_input=True, amplitude_leads=12))
    weights = model.state_dict()
    path = tmp_path / "plain.pt"
    save_checkpoint(
        Checkpoint(
            model_config=model.cfg,
            diffusion_config=DIFFUSION_PRESETS["tiny"],
            labels=TINY_LABELS,
            data_scale=DATA_SCALE,
            fs=100,
            model=weights,
            ema=weights,
            step=3,
            amplitude=fitted_prior(12).to_dict(),
        ),
        path,
    )
    out = tmp_path / "calibrated.pt"
    calibrate_main(
        [
            *("--checkpoint", str(path), "--out", str(out), "--labels", "SR,AF+NORM"),
            *("--n-per-label", "3", "--rounds", "2", "--steps", "2", "--threads", "1"),
        ]
    )
    printed = capsys.readouterr().out
    assert "round 2: drawn/asked I " in printed and "corr(I, aVF)" in printed
    ckpt = load_checkpoint(out)
    calibration = ckpt.amplitude_prior().calibration
    kept = ckpt.extra["voltage_calibration"]["round_kept"]
    assert len(calibration) == 9 and f"kept round {kept}:" in printed
    assert load_checkpoint(path).amplitude_prior().calibration == ()  # untouched
    ecgs, _ = generate(out, ["SR"], n=2, seed=4, steps=2, device="cpu")
    assert ecgs.shape == (2, 12, model.cfg.length) and np.isfinite(ecgs).all()

    # generation tells the network the drawn voltage plus the calibration
    ckpt.amplitude = fitted_prior(12).calibrated([0.3] * 8 + [0]).to_dict()
    plain = lead_amplitudes(load_checkpoint(path), ["SR"], seed=4, n=20)
    told = lead_amplitudes(ckpt, ["SR"], seed=4, n=20)
    inside = plain[:, :8].abs() < LOG_LIMIT - 0.3
    assert torch.allclose((told - plain)[:, :8][inside], torch.tensor(0.3), atol=1e-5)


def test_calibrate_names_what_is_wrong(tmp_path, tiny_checkpoint, capsys):
    with pytest.raises(SystemExit):
        calibrate_main(["--checkpoint", str(tiny_checkpoint), "--rounds", "1"])
    assert "takes no voltage input" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        calibrate_main(["--checkpoint", str(tiny_checkpoint), "--labels", "XYZ"])
    assert "unknown label(s) ['XYZ']" in capsys.readouterr().err
