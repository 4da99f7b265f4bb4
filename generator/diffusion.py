"""Noise schedules, the forward process q(x_t | x_0) and the training loss."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from generator.config import DictConfig

SCHEDULES = ("linear", "cosine")
PREDICTIONS = ("eps", "v")


@dataclass
class DiffusionConfig(DictConfig):
    schedule: str = (
        "cosine"  # "linear" (DDPM, SSSD-ECG) or "cosine" (Nichol & Dhariwal)
    )
    n_steps: int = 1000  # T, diffusion steps of the forward process
    beta_start: float = 1e-4  # linear schedule only: beta_1
    beta_end: float = 0.02  # linear schedule only: beta_T
    cosine_s: float = 0.008  # cosine schedule only: offset s of eq. 17
    prediction: str = "v"  # network target: "eps" (noise) or "v" (Salimans & Ho 2022)

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"schedule must be one of {SCHEDULES}, got {self.schedule!r}"
            )
        if self.prediction not in PREDICTIONS:
            raise ValueError(
                f"prediction must be one of {PREDICTIONS}, got {self.prediction!r}"
            )
        if self.n_steps < 1:
            raise ValueError(f"n_steps must be at least 1, got {self.n_steps}")


DIFFUSION_PRESETS: dict[str, DiffusionConfig] = {
    # the paper's schedule: alpha_bar_T = 0.132, so x_T is never pure noise
    "sssd-ecg": DiffusionConfig(schedule="linear", n_steps=200, prediction="eps"),
    # reaches noise (alpha_bar_T < 1e-3); v-prediction stays well posed at both ends
    "cpu": DiffusionConfig(),
    "tiny": DiffusionConfig(n_steps=100),
}


def make_betas(cfg: DiffusionConfig) -> torch.Tensor:
    """betas_1..T as float64, (T,)."""
    T = cfg.n_steps
    if cfg.schedule == "linear":
        return torch.linspace(cfg.beta_start, cfg.beta_end, T, dtype=torch.float64)
    # Nichol & Dhariwal 2021 eq. 17: alpha_bar(t) = f(t) / f(0), betas clipped at 0.999
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + cfg.cosine_s) / (1 + cfg.cosine_s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    betas = 1 - alphas_cumprod[1:] / alphas_cumprod[:-1]
    return betas.clamp(max=0.999)


class GaussianDiffusion(nn.Module):
    """The forward process and the conversions between eps, v and x_0 (Ho et al. 2020).

    Schedule tensors are buffers, so they follow ``.to(device)``; step t in
    0..T-1 indexes them (t = 0 is the least noisy).
    """

    def __init__(self, cfg: DiffusionConfig):
        super().__init__()
        self.cfg = cfg
        betas = make_betas(cfg)
        alphas_cumprod = torch.cumprod(1 - betas, dim=0)
        self.register_buffer("betas", betas.float())
        self.register_buffer("alphas_cumprod", alphas_cumprod.float())
        self.register_buffer("sqrt_alphas_cumprod", alphas_cumprod.sqrt().float())
        self.register_buffer(
            "sqrt_one_minus_alphas_cumprod", (1 - alphas_cumprod).sqrt().float()
        )

    @property
    def n_steps(self) -> int:
        return self.cfg.n_steps

    @staticmethod
    def _at(values: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return values[t][:, None, None]  # (B, 1, 1) to broadcast over (B, C, L)

    def q_sample(
        self, x_0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor
    ) -> torch.Tensor:
        """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps (DDPM eq. 4)."""
        return (
            self._at(self.sqrt_alphas_cumprod, t) * x_0
            + self._at(self.sqrt_one_minus_alphas_cumprod, t) * eps
        )

    def target(
        self, x_0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor
    ) -> torch.Tensor:
        """What the network learns: eps, or v = sqrt(a) eps - sqrt(1 - a) x_0."""
        if self.cfg.prediction == "eps":
            return eps
        return (
            self._at(self.sqrt_alphas_cumprod, t) * eps
            - self._at(self.sqrt_one_minus_alphas_cumprod, t) * x_0
        )

    def predict_x0_eps(
        self, model_output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Turn the network output at step t into (x_0, eps) estimates."""
        a = self._at(self.sqrt_alphas_cumprod, t)
        s = self._at(self.sqrt_one_minus_alphas_cumprod, t)
        if self.cfg.prediction == "eps":
            eps = model_output
            x_0 = (x_t - s * eps) / a
        else:
            x_0 = a * x_t - s * model_output
            eps = s * x_t + a * model_output
        return x_0, eps

    def eps_from_x0(
        self, x_t: torch.Tensor, t: torch.Tensor, x_0: torch.Tensor
    ) -> torch.Tensor:
        """The noise that takes x_0 to x_t at step t (DDPM eq. 4 solved for eps)."""
        a = self._at(self.sqrt_alphas_cumprod, t)
        return (x_t - a * x_0) / self._at(self.sqrt_one_minus_alphas_cumprod, t)

    def training_loss(
        self,
        model: nn.Module,
        x_0: torch.Tensor,
        labels: torch.Tensor,
        drop_labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        t: torch.Tensor | None = None,
        min_snr_gamma: float | None = None,
        timing: torch.Tensor | None = None,
        amplitude: torch.Tensor | None = None,
        channel_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """MSE between the network output and its target (DDPM eq. 14).

        ``channel_weights`` (C,) weighs each channel's squared error (the mean over
        channels of plain MSE when they are all 1).

        ``min_snr_gamma`` weights each example by min(SNR, gamma) / SNR for eps, or
        / (SNR + 1) for v (Min-SNR, Hang et al. 2023): the nearly clean steps, whose
        loss is mostly irreducible, no longer dominate the gradient.
        """
        B = x_0.shape[0]
        if t is None:
            t = torch.randint(
                0, self.n_steps, (B,), generator=generator, device="cpu"
            ).to(x_0.device)
        eps = torch.randn(x_0.shape, generator=generator, device="cpu").to(x_0.device)
        x_t = self.q_sample(x_0, t, eps)
        output = model(x_t, t, labels, drop_labels, timing, amplitude)
        squared = (output - self.target(x_0, t, eps)).pow(2)  # (B, C, L)
        if channel_weights is not None:
            squared = squared * channel_weights.to(squared)[None, :, None]
        if min_snr_gamma is None:
            return squared.mean()
        per_example = squared.mean(dim=(1, 2))
        return (per_example * self.min_snr_weight(t, min_snr_gamma)).mean()

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t), (B,)."""
        a = self.alphas_cumprod[t]
        return a / (1 - a)

    def min_snr_weight(self, t: torch.Tensor, gamma: float) -> torch.Tensor:
        """Min-SNR-gamma loss weight for the network's target, (B,)."""
        if gamma <= 0:
            raise ValueError(f"min_snr_gamma must be positive, got {gamma}")
        snr = self.snr(t)
        clipped = snr.clamp(max=gamma)
        return clipped / (snr + 1) if self.cfg.prediction == "v" else clipped / snr
