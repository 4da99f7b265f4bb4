"""Schedules, the forward process and the samplers, including golden values."""

import pytest
import torch

from generator.diffusion import (
    DIFFUSION_PRESETS,
    DiffusionConfig,
    GaussianDiffusion,
    make_betas,
)
from generator.sampling import sample, timesteps


@pytest.mark.parametrize("preset", sorted(DIFFUSION_PRESETS))
def test_alphas_cumprod_fall_strictly(preset):
    a = GaussianDiffusion(DIFFUSION_PRESETS[preset]).alphas_cumprod
    assert (a[1:] < a[:-1]).all()
    assert a[-1] > 0 and a[0] < 1


def test_default_schedule_reaches_noise():
    diffusion = GaussianDiffusion(DiffusionConfig())
    assert diffusion.alphas_cumprod[-1] < 1e-3


def test_paper_schedule_never_reaches_noise():
    betas = make_betas(DIFFUSION_PRESETS["sssd-ecg"])
    alpha_bar_T = torch.cumprod(1 - betas, 0)[-1].item()
    assert len(betas) == 200
    assert alpha_bar_T == pytest.approx(0.132, abs=0.001)


def test_bad_schedule_and_prediction_are_rejected():
    with pytest.raises(ValueError, match="schedule"):
        DiffusionConfig(schedule="sigmoid")
    with pytest.raises(ValueError, match="prediction"):
        DiffusionConfig(prediction="x0")


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_target_inverts_to_x0_and_eps(prediction):
    diffusion = GaussianDiffusion(DiffusionConfig(n_steps=100, prediction=prediction))
    x_0, eps = torch.randn(4, 8, 20), torch.randn(4, 8, 20)
    t = torch.tensor([0, 10, 50, 99])
    x_t = diffusion.q_sample(x_0, t, eps)
    x0_hat, eps_hat = diffusion.predict_x0_eps(diffusion.target(x_0, t, eps), x_t, t)
    assert torch.allclose(x0_hat, x_0, atol=1e-3)
    assert torch.allclose(eps_hat, eps, atol=1e-4)


def test_timesteps_run_from_last_to_first():
    assert timesteps(1000, 5) == [999, 749, 500, 250, 0]
    assert timesteps(10, 10) == list(range(9, -1, -1))
    with pytest.raises(ValueError, match="between 1 and"):
        timesteps(100, 101)


def test_unknown_sampler_is_rejected(tiny_model, tiny_diffusion):
    with pytest.raises(ValueError, match="ddpm"):
        sample(tiny_model, tiny_diffusion, torch.zeros(1, 3), sampler="euler")


def test_sampling_can_start_from_a_given_ecg_noised_to_a_step(tiny_diffusion):
    from generator.model import SSSD

    from .conftest import tiny_config

    silent = SSSD(tiny_config()).eval()  # predicts v = 0: x_0 = sqrt(a_t) x_t
    given = torch.randn(2, 8, 200)
    labels = torch.eye(2, 3)
    # from step 0, the least noise, one DDIM step lands on the ECG
    back = sample(silent, tiny_diffusion, labels, steps=100, start=(given, 0))
    assert (back - given).abs().mean() < 0.1
    # from pure noise it is nowhere near it
    far = sample(silent, tiny_diffusion, labels, steps=100)
    assert (far - given).abs().mean() > 0.5


# First three samples of lead I of both ECGs, computed once on CPU float32.
GOLDEN = {
    ("ddim", 1.0): [-0.919, -0.9259, -0.1768, 0.3216, -1.5533, -1.4266],
    ("ddpm", 1.0): [0.3374, -0.0204, 0.879, -0.1922, -0.4757, -0.2641],
    ("ddim", 2.0): [-0.9083, -0.9289, -0.1475, 0.3796, -1.5925, -1.4498],
}


@pytest.mark.parametrize(("sampler", "guidance"), sorted(GOLDEN))
def test_seeded_sampling_reproduces_golden_values(
    tiny_model, tiny_diffusion, sampler, guidance
):
    labels = torch.tensor([[1.0, 0, 1], [0, 1, 0]])
    kwargs = dict(sampler=sampler, steps=8, guidance=guidance)
    x = sample(
        tiny_model,
        tiny_diffusion,
        labels,
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    )
    again = sample(
        tiny_model,
        tiny_diffusion,
        labels,
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    )
    assert x.shape == (2, 8, 200)
    assert torch.equal(x, again)
    got = [round(v, 4) for v in x[:, 0, :3].flatten().tolist()]
    assert got == pytest.approx(GOLDEN[(sampler, guidance)], abs=2e-4)


def test_one_generator_per_row_makes_rows_independent_of_the_batch(
    tiny_model, tiny_diffusion
):
    labels = torch.tensor([[1.0, 0, 0], [0, 1, 0]])
    both = sample(
        tiny_model,
        tiny_diffusion,
        labels,
        steps=4,
        sampler="ddpm",
        generator=[torch.Generator().manual_seed(s) for s in (1, 2)],
    )
    second = sample(
        tiny_model,
        tiny_diffusion,
        labels[1:],
        steps=4,
        sampler="ddpm",
        generator=[torch.Generator().manual_seed(2)],
    )
    assert torch.allclose(both[1], second[0], atol=1e-6)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_min_snr_weights_are_bounded_and_favour_the_middle_steps(prediction):
    diffusion = GaussianDiffusion(DiffusionConfig(prediction=prediction))
    t = torch.arange(diffusion.n_steps)
    w = diffusion.min_snr_weight(t, gamma=5.0)
    assert ((w >= 0) & (w <= 1 + 1e-6)).all()
    assert w[0] < 0.01  # nearly clean steps no longer dominate
    assert w[500] > 10 * w[0]
    with pytest.raises(ValueError, match="min_snr_gamma"):
        diffusion.min_snr_weight(t, gamma=0.0)


def test_weighted_loss_is_a_scalar_that_backpropagates(tiny_model, tiny_diffusion):
    tiny_model.train()
    loss = tiny_diffusion.training_loss(
        tiny_model, torch.randn(3, 8, 200), torch.eye(3), min_snr_gamma=5.0
    )
    loss.backward()
    assert loss.ndim == 0 and tiny_model.out_conv.weight.grad is not None


def test_twelve_lead_loss_is_the_mean_squared_error_of_the_printed_leads(
    tiny_model, tiny_diffusion
):
    from generator.ecg import expand_to_12
    from generator.train import lead_loss_weights

    x_0, labels, t = torch.randn(3, 8, 200), torch.eye(3), torch.tensor([5, 20, 40])

    def loss(weights):
        g = torch.Generator().manual_seed(3)
        with torch.no_grad():
            return tiny_diffusion.training_loss(
                tiny_model, x_0, labels, t=t, generator=g, channel_weights=weights
            ).item()

    g = torch.Generator().manual_seed(3)
    eps = torch.randn(x_0.shape, generator=g)
    with torch.no_grad():
        output = tiny_model(tiny_diffusion.q_sample(x_0, t, eps), t, labels)
    error = expand_to_12(output - tiny_diffusion.target(x_0, t, eps))  # (B, 12, L)
    assert loss(lead_loss_weights(12)) == pytest.approx(error.pow(2).mean().item())
    assert lead_loss_weights(8) is None
    assert loss(None) != pytest.approx(loss(lead_loss_weights(12)))
    with pytest.raises(ValueError, match="loss-leads"):
        lead_loss_weights(10)
