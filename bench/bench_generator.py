"""Benchmark the generator on this machine: sampling speed, parameters, training rate.

python bench/bench_generator.py [--checkpoint fixtures/demo-checkpoint.pt] [--full]

Seconds per 10-s ECG are for a batch of 8 with S4 kernels computed once per run.
The sssd-ecg DDPM-200 figure is timed over ``--sssd-steps`` denoising steps and
scaled to 200 unless ``--full`` is given (a full run takes tens of minutes).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from generator.diffusion import DIFFUSION_PRESETS, GaussianDiffusion
from generator.model import MODEL_PRESETS, SSSD, ModelConfig, count_parameters
from generator.sampling import sample


def seconds_per_ecg(
    model: SSSD,
    diffusion: GaussianDiffusion,
    sampler: str,
    steps: int,
    batch: int,
    timed_steps: int | None = None,
) -> float:
    """Wall time of one sampling run over ``batch`` ECGs, divided by ``batch``."""
    labels = torch.zeros(batch, model.cfg.n_labels)
    labels[:, 0] = 1
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # warm-up: kernels, allocator
        model(
            torch.randn(batch, 8, model.cfg.length), torch.zeros(batch).long(), labels
        )
    run_steps = timed_steps or steps
    started = time.perf_counter()
    # timed_steps < steps: the same per-step work, fewer steps (the first run_steps
    # of a DDIM grid cost what any steps cost)
    sample(
        model, diffusion, labels, sampler=sampler, steps=run_steps, generator=generator
    )
    elapsed = time.perf_counter() - started
    return elapsed * steps / run_steps / batch


def training_steps_per_hour(
    cfg: ModelConfig, preset: str, batch: int, n_steps: int = 3
) -> float:
    model = SSSD(cfg).train()
    diffusion = GaussianDiffusion(DIFFUSION_PRESETS[preset])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x_0 = torch.randn(batch, cfg.n_leads, cfg.length)
    labels = torch.zeros(batch, cfg.n_labels)
    times = []
    for _ in range(n_steps + 1):
        started = time.perf_counter()
        loss = diffusion.training_loss(model, x_0, labels)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        times.append(time.perf_counter() - started)
    return 3600 / (sum(times[1:]) / n_steps)  # the first step warms up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", help="demo checkpoint: time generate() too")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--sssd-steps", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="all 200 sssd-ecg steps")
    parser.add_argument("--cpu-train-batch", type=int, default=32)
    parser.add_argument("--sssd-train-batch", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results: dict = {
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}",
        "batch": args.batch,
    }

    cfg = MODEL_PRESETS["cpu"]
    model, diffusion = SSSD(cfg).eval(), GaussianDiffusion(DIFFUSION_PRESETS["cpu"])
    results["cpu"] = {
        "parameters": count_parameters(model),
        "s_per_ecg_ddim50": seconds_per_ecg(model, diffusion, "ddim", 50, args.batch),
        "s_per_ecg_ddpm200": seconds_per_ecg(model, diffusion, "ddpm", 200, args.batch),
        "train_steps_per_hour": training_steps_per_hour(
            cfg, "cpu", args.cpu_train_batch
        ),
        "train_batch": args.cpu_train_batch,
    }
    print(json.dumps(results, indent=2), flush=True)

    if args.checkpoint:
        from generator.api import generate

        generate(args.checkpoint, ["SR"], n=1, seed=0, steps=2, device="cpu")  # load
        started = time.perf_counter()
        generate(args.checkpoint, ["SR"], n=args.batch, seed=0, steps=50, device="cpu")
        elapsed = time.perf_counter() - started
        results["demo_checkpoint_generate_ddim50_s_per_ecg"] = elapsed / args.batch
        print(json.dumps(results, indent=2), flush=True)

    cfg = MODEL_PRESETS["sssd-ecg"]
    model, diffusion = (
        SSSD(cfg).eval(),
        GaussianDiffusion(DIFFUSION_PRESETS["sssd-ecg"]),
    )
    timed = None if args.full else args.sssd_steps
    results["sssd-ecg"] = {
        "parameters": count_parameters(model),
        "s_per_ecg_ddpm200": seconds_per_ecg(
            model, diffusion, "ddpm", 200, args.batch, timed_steps=timed
        ),
        "ddpm200_timed_steps": timed or 200,
        "train_steps_per_hour": training_steps_per_hour(
            cfg, "sssd-ecg", args.sssd_train_batch, n_steps=2
        ),
        "train_batch": args.sssd_train_batch,
    }
    print(json.dumps(results, indent=2), flush=True)


if __name__ == "__main__":
    main()
