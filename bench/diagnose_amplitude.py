"""Where do a checkpoint's amplitudes go? The x_0 it predicts at each noise level,
and the ECGs its sampler makes, against the truth on real `val` records.

    .venv/bin/python bench/diagnose_amplitude.py \
        --checkpoint fixtures/demo-checkpoint.pt --data ../shared/ecg \
        [--split val] [--steps 50]

For each noise level t it noises the val records (fixed seed), asks the EMA network
for x_0 and reports the RMS of that prediction over the RMS of the truth, the
correlation of the two, and the same for the posterior mean an ideal denoiser would
give for white-noise data of the same power (the shrinkage every denoiser must
show at high noise). Then it samples as many ECGs with the val records' labels and
beat times (DDIM and DDPM) and compares their RMS with the records'. A ratio that
stays under 1 at low noise, where the truth is plain to see, is the network's
fault; one that is right there but falls during sampling is the sampler's.
Last, it starts DDIM from the val records noised to level t0 instead of from pure
noise: the t0 at which the result's RMS falls shows which noise levels lose it.
A model with amplitude input is given the records' own per-lead voltages, and
DDIM is run once more with voltages drawn from its prior, as generation does;
each such run also reports, per lead, how much of the told voltage it drew, and
every run the frontal axis (the correlation of I and aVF) it drew against the
records'.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generator.amplitude import (  # noqa: E402
    MEASURED_LEADS,
    amplitude_input,
    axis_z,
    log_amplitude,
)
from generator.api import lead_amplitudes  # noqa: E402
from generator.checkpoint import load_checkpoint  # noqa: E402
from generator.data import first_windows, load_signals  # noqa: E402
from generator.datasets import iter_index  # noqa: E402
from generator.ecg import INDEPENDENT_LEADS  # noqa: E402
from generator.sampling import sample  # noqa: E402

LEVELS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.98)  # t / T
STARTS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)  # t0 / T of the partial runs


def obedience(realised: torch.Tensor, told: torch.Tensor) -> str:
    """Per measured lead: the median ratio of the voltage drawn to the voltage
    told, and the slope of drawn against told log SD across ECGs (1 and 1: the
    network draws what it is told; a slope under 1 pulls every ECG towards the
    median voltage)."""
    names = MEASURED_LEADS[told.shape[1]]
    ratio = torch.exp((realised - told).median(0).values)
    cells = []
    for j, name in enumerate(names):
        slope = np.polyfit(told[:, j].numpy(), realised[:, j].numpy(), 1)[0]
        cells.append(f"{name} {ratio[j].item():.2f}/{slope:.2f}")
    return "drawn/told voltage (median ratio/slope): " + ", ".join(cells)


def axis_agreement(
    generated_mv: torch.Tensor, real_mv: torch.Tensor, *, paired: bool
) -> str:
    """The frontal axis, as the correlation of leads I and aVF over each ECG
    (which with their SDs sets II, III, aVR and aVL): its mean in the generated
    and the real ECGs, and, ``paired`` (each generated ECG told its record's
    voltages), how well one follows the other ECG by ECG."""
    drawn, real = torch.tanh(axis_z(generated_mv)), torch.tanh(axis_z(real_mv))
    text = (
        f"corr(I, aVF): real mean {real.mean():.2f} (SD {real.std():.2f}), drawn "
        f"{drawn.mean():.2f} ({drawn.std():.2f})"
    )
    if paired:
        follow = np.corrcoef(drawn.numpy(), real.numpy())[0, 1]
        text += f"; drawn against real r = {follow:.2f}"
    return text


def rms(x: torch.Tensor) -> torch.Tensor:
    """(B,) root mean square over leads and time."""
    return x.pow(2).mean(dim=(1, 2)).sqrt()


@torch.no_grad()
def ddim_from(model, diffusion, x_start, t0: int, steps: int, labels, inputs):
    """Deterministic DDIM (Song et al. 2021 eq. 12, eta = 0) from step t0 down."""
    seq = np.unique(np.linspace(0, t0, steps).round().astype(int))[::-1]
    a = diffusion.alphas_cumprod
    x_t = x_start
    for i, step in enumerate(seq):
        t = torch.full((x_t.shape[0],), int(step), dtype=torch.long)
        x_0, eps = diffusion.predict_x0_eps(model(x_t, t, labels, **inputs), x_t, t)
        a_prev = a[seq[i + 1]] if i + 1 < len(seq) else a.new_tensor(1.0)
        x_t = a_prev.sqrt() * x_0 + (1 - a_prev).clamp(min=0).sqrt() * eps
    return x_t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val", choices=["train", "val"])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ckpt = load_checkpoint(args.checkpoint)
    model = ckpt.build(ema=True, device="cpu")
    diffusion = ckpt.build_diffusion("cpu")
    timing_input = bool(ckpt.model_config.timing_channels)
    records = list(iter_index(args.data, [args.split]))
    data = load_signals(records, ckpt.labels, timing=timing_input)
    x_mv, labels, timing = first_windows(data, ckpt.model_config.length)
    x_0 = x_mv / ckpt.data_scale
    prior = ckpt.amplitude_prior()
    amplitude = None
    if prior is not None:
        axis = ckpt.model_config.amplitude_axis
        amplitude = amplitude_input(x_mv, prior.reference, axis=axis)
    inputs = {"timing": timing, "amplitude": amplitude}
    n = x_0.shape[0]
    truth = rms(x_0)
    print(
        f"{n} {args.split} records; data scale {ckpt.data_scale:.4f} mV; step "
        f"{ckpt.step}; prediction {ckpt.diffusion_config.prediction}"
    )
    print("t/T    a_bar   pred/true RMS   corr   ideal white-noise shrinkage")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for level in LEVELS:
            step = min(diffusion.n_steps - 1, int(level * diffusion.n_steps))
            t = torch.full((n,), step, dtype=torch.long)
            eps = torch.randn(x_0.shape, generator=generator)
            x_t = diffusion.q_sample(x_0, t, eps)
            output = model(x_t, t, labels, **inputs)
            x_0_hat, _ = diffusion.predict_x0_eps(output, x_t, t)
            ratio = (rms(x_0_hat) / truth).median().item()
            corr = torch.nn.functional.cosine_similarity(
                (x_0_hat - x_0_hat.mean(2, keepdim=True)).flatten(1),
                (x_0 - x_0.mean(2, keepdim=True)).flatten(1),
            )
            a_bar = diffusion.alphas_cumprod[step].item()
            power = truth.pow(2).mean().item()
            # E[x0 | x_t] for Gaussian x0 of this power: shrink by a P / (a P + 1 - a)
            ideal = np.sqrt(a_bar) * power / (a_bar * power + 1 - a_bar)
            ideal_rms = ideal * np.sqrt(a_bar * power + 1 - a_bar) / np.sqrt(power)
            print(
                f"{level:4.2f}  {a_bar:7.4f}   {ratio:6.3f}        "
                f"{corr.median().item():5.3f}  {ideal_rms:6.3f}"
            )
        runs = [("ddim", amplitude), ("ddpm", amplitude)]
        if prior is not None:  # voltages drawn as generate() draws them
            drawn = torch.cat(
                [
                    lead_amplitudes(ckpt, names, i, 1, prior)
                    for i, names in enumerate(data.names)
                ]
            )
            runs.append(("ddim, prior voltages", drawn))
        for sampler, run_amplitude in runs:
            generated = sample(
                model,
                diffusion,
                labels,
                sampler=sampler.split(",")[0],
                steps=args.steps,
                generator=torch.Generator().manual_seed(1),
                timing=timing,
                amplitude=run_amplitude,
            )
            ratio = (rms(generated).median() / truth.median()).item()
            per_lead = (
                generated.pow(2).mean(2).sqrt().median(0).values
                / x_0.pow(2).mean(2).sqrt().median(0).values
            )
            flat = (generated.std(2).mean(1) * ckpt.data_scale < 0.06).float().mean()
            print(
                f"{sampler}-{args.steps}: median RMS synthetic / real {ratio:.3f}; per "
                f"lead {[round(float(v), 2) for v in per_lead]}; near-flat "
                f"{flat.item():.0%} (real "
                f"{(x_mv.std(2).mean(1) < 0.06).float().mean().item():.0%})"
            )
            if run_amplitude is not None:
                realised = log_amplitude(generated * ckpt.data_scale, prior.reference)
                told = run_amplitude[:, : len(prior.reference)]  # not the axis
                print("  " + obedience(realised, told))
            paired = run_amplitude is amplitude
            axis = axis_agreement(generated * ckpt.data_scale, x_mv, paired=paired)
            print("  " + axis)

        print("DDIM from the val records noised to t0 (t0 = 1: pure noise)")
        for start in STARTS:
            t0 = min(diffusion.n_steps - 1, int(start * diffusion.n_steps))
            t = torch.full((n,), t0, dtype=torch.long)
            eps = torch.randn(x_0.shape, generator=torch.Generator().manual_seed(2))
            x_start = diffusion.q_sample(x_0, t, eps) if start < 1 else eps
            steps = max(2, round(args.steps * start))
            out = ddim_from(model, diffusion, x_start, t0, steps, labels, inputs)
            ratio = (rms(out) / truth).median().item()
            per_lead = (out.std(dim=2) / x_0.std(dim=2)).median(0).values
            leads = ", ".join(
                f"{name} {v:.2f}"
                for name, v in zip(INDEPENDENT_LEADS, per_lead.tolist(), strict=True)
            )
            print(f"  t0/T {start:4.2f}: RMS / truth {ratio:.3f}; per lead {leads}")


if __name__ == "__main__":
    main()
