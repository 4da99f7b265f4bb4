"""DDPM ancestral and DDIM samplers over any subsequence of the diffusion steps."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from generator.diffusion import GaussianDiffusion

SAMPLERS = ("ddpm", "ddim")


def timesteps(n_train_steps: int, n_sample_steps: int) -> list[int]:
    """Evenly spaced steps from T-1 down to 0, ``n_sample_steps`` of them."""
    if not 1 <= n_sample_steps <= n_train_steps:
        raise ValueError(
            f"steps must be between 1 and the model's {n_train_steps} diffusion steps, "
            f"got {n_sample_steps}"
        )
    if n_sample_steps == 1:
        return [n_train_steps - 1]
    grid = torch.linspace(n_train_steps - 1, 0, n_sample_steps, dtype=torch.float64)
    return [int(round(v)) for v in grid.tolist()]


def guided_input(values: torch.Tensor | None, guidance: float) -> torch.Tensor | None:
    """A per-ECG input (timing, amplitude) for the batch ``guided_output`` runs:
    doubled under guidance. Built once per sampling run, so the model's timing
    terms are reused."""
    if values is None or guidance == 1.0:
        return values
    return torch.cat([values, values])


def guided_output(
    model: nn.Module,
    x_t: torch.Tensor,
    t: torch.Tensor,
    labels: torch.Tensor,
    guidance: float,
    timing: torch.Tensor | None = None,
    amplitude: torch.Tensor | None = None,
) -> torch.Tensor:
    """Network output with classifier-free guidance (Ho & Salimans 2022).

    out = out_uncond + w (out_cond - out_uncond); w = 1 is plain conditioning,
    w = 0 unconditional. Both branches run as one batch; both get the beat
    timing and the amplitude, which guidance leaves alone: with guidance, they
    are already given for that doubled batch (2B, ...), see ``guided_input``.
    """
    if guidance == 1.0:
        return model(x_t, t, labels, timing=timing, amplitude=amplitude)
    B = x_t.shape[0]
    drop = torch.cat(
        [torch.zeros(B, dtype=torch.bool), torch.ones(B, dtype=torch.bool)]
    )
    both = model(
        torch.cat([x_t, x_t]),
        torch.cat([t, t]),
        torch.cat([labels, labels]),
        drop.to(x_t.device),
        timing,
        amplitude,
    )
    cond, uncond = both.chunk(2)  # (B, C, L) each
    return uncond + guidance * (cond - uncond)


@torch.no_grad()
def sample(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    labels: torch.Tensor,
    *,
    sampler: str = "ddim",
    steps: int = 50,
    guidance: float = 1.0,
    eta: float = 0.0,
    clip_x0: float | None = None,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    progress: Callable[[int, int], None] | None = None,
    timing: torch.Tensor | None = None,
    amplitude: torch.Tensor | None = None,
    start: tuple[torch.Tensor, int] | None = None,
) -> torch.Tensor:
    """Draw x_0 for each row of ``labels`` (B, K); returns (B, n_leads, length).

    ``sampler="ddim"`` follows Song et al. 2021 eq. 12 (``eta=0`` deterministic);
    ``"ddpm"`` is ancestral sampling from the posterior q(x_{t-1} | x_t, x_0) (Ho et
    al. 2020 eqs. 6-7), respaced to ``steps`` when fewer than T. Noise is drawn on
    the CPU from ``generator``, so a seed gives the same ECG on any device; with
    one generator per row, each ECG depends on its own generator alone.
    ``clip_x0`` bounds each x_0 estimate, in the model's (scaled) units.
    ``timing`` (B, 2, length) places the beats for a model with timing channels,
    ``amplitude`` (B, n_leads) sets the voltage of a model with amplitude input.
    ``start`` (x_0, step) begins from x_0 noised to that step instead of from pure
    noise, and denoises along the schedule's steps at or below it (SDEdit, Meng
    et al. 2022): how much of a given ECG a model keeps from each noise level.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if eta < 0:
        raise ValueError(f"eta must be non-negative, got {eta}")
    cfg = model.cfg
    device = labels.device
    B = labels.shape[0]
    shape = (B, cfg.n_leads, cfg.length)

    if isinstance(generator, Sequence) and len(generator) != B:
        raise ValueError(f"got {len(generator)} generators for {B} rows of labels")

    def noise() -> torch.Tensor:
        if isinstance(generator, Sequence):
            rows = [torch.randn(shape[1:], generator=g) for g in generator]
            return torch.stack(rows).to(device)  # (B, C, L)
        return torch.randn(shape, generator=generator, device="cpu").to(device)

    x_t = noise()
    timing = guided_input(timing, guidance)
    amplitude = guided_input(amplitude, guidance)
    seq = timesteps(diffusion.n_steps, steps)
    alphas_cumprod = diffusion.alphas_cumprod
    if start is not None:
        given, from_step = start
        seq = [step for step in seq if step <= from_step]
        a = alphas_cumprod[from_step]
        x_t = a.sqrt() * given.to(device) + (1 - a).sqrt() * x_t
    for i, step in enumerate(seq):
        t = torch.full((B,), step, dtype=torch.long, device=device)
        output = guided_output(model, x_t, t, labels, guidance, timing, amplitude)
        x_0, eps = diffusion.predict_x0_eps(output, x_t, t)
        if clip_x0 is not None:
            x_0 = x_0.clamp(-clip_x0, clip_x0)
            eps = diffusion.eps_from_x0(x_t, t, x_0)
        a_t = alphas_cumprod[step]
        a_prev = alphas_cumprod[seq[i + 1]] if i + 1 < len(seq) else a_t.new_tensor(1.0)
        last = i + 1 == len(seq)
        if sampler == "ddim":
            sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
            direction = (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps
            x_t = a_prev.sqrt() * x_0 + direction
            if eta > 0 and not last:
                x_t = x_t + sigma * noise()
        else:
            beta = 1 - a_t / a_prev  # the respaced beta between the two steps
            mean = (a_prev.sqrt() * beta / (1 - a_t)) * x_0 + (
                (1 - beta).sqrt() * (1 - a_prev) / (1 - a_t)
            ) * x_t
            x_t = mean
            if not last:
                variance = beta * (1 - a_prev) / (1 - a_t)  # beta tilde, eq. 7
                x_t = x_t + variance.sqrt() * noise()
        if progress is not None:
            progress(i + 1, len(seq))
    return x_t
