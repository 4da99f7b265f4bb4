"""The one door Django uses: generate(...) -> millivolt arrays and their provenance."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from generator.amplitude import AmplitudePrior
from generator.checkpoint import (
    Checkpoint,
    file_sha256,
    load_checkpoint,
    resolve_device,
)
from generator.data import SHAPE_LABEL, multi_hot
from generator.diffusion import GaussianDiffusion
from generator.ecg import CLIP_MV, LEADS, expand_to_12
from generator.model import SSSD
from generator.rhythm import RhythmPrior, timing_channels
from generator.sampling import SAMPLERS, sample


@dataclass(frozen=True)
class Provenance:
    """What it takes to reproduce a batch of synthetic ECGs."""

    checkpoint_sha256: str
    step: int  # training steps of the checkpoint
    labels: tuple[str, ...]
    seed: int
    sampler: str
    steps: int
    guidance: float
    fs: int
    leads: tuple[str, ...] = LEADS


@dataclass
class LoadedModel:
    """A checkpoint made ready to sample: EMA network, schedule, identity."""

    checkpoint: Checkpoint
    model: SSSD
    diffusion: GaussianDiffusion
    sha256: str
    device: torch.device
    rhythm: RhythmPrior | None  # where a model with timing input takes its beats
    amplitude: AmplitudePrior | None  # and one with amplitude input its voltages


_CACHE: dict[tuple[str, str, int, str], LoadedModel] = {}


def load_model(checkpoint: str | Path, device: str = "auto") -> LoadedModel:
    """Load once per (file, content, device); later calls reuse the network."""
    path = Path(checkpoint).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    dev = resolve_device(device)
    stat = path.stat()
    key = (str(path), str(dev), stat.st_mtime_ns, str(stat.st_size))
    if key not in _CACHE:
        ckpt = load_checkpoint(path)
        _CACHE[key] = LoadedModel(
            checkpoint=ckpt,
            model=ckpt.build(ema=True, device=dev),
            diffusion=ckpt.build_diffusion(dev),
            sha256=file_sha256(path),
            device=dev,
            rhythm=ckpt.rhythm_prior(),
            amplitude=ckpt.amplitude_prior(),
        )
    return _CACHE[key]


def ecg_generator(seed: int, index: int) -> torch.Generator:
    """The noise source of the ``index``-th ECG of a run seeded with ``seed``."""
    state = np.random.SeedSequence([seed, index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def rhythm_rng(seed: int, index: int) -> np.random.Generator:
    """The beat-timing source of the ``index``-th ECG of a run seeded with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([seed, index, 1]))


def amplitude_rng(seed: int, index: int) -> np.random.Generator:
    """The voltage source of the ``index``-th ECG of a run seeded with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([seed, index, 2]))


def beat_timing(
    ckpt: Checkpoint,
    labels: Sequence[str],
    seed: int,
    n: int,
    prior: RhythmPrior | None = None,
) -> torch.Tensor | None:
    """(n, 2, L) timing channels drawn from the checkpoint's rhythm prior (or
    ``prior``, that prior already loaded), or None for a model without timing."""
    prior = prior or ckpt.rhythm_prior()
    if prior is None:
        return None
    length = ckpt.model_config.length
    rows = [
        timing_channels(
            prior.draw(labels, length, ckpt.fs, rhythm_rng(seed, i)), length, ckpt.fs
        )
        for i in range(n)
    ]
    return torch.from_numpy(np.stack(rows))


def lead_amplitudes(
    ckpt: Checkpoint,
    labels: Sequence[str],
    seed: int,
    n: int,
    prior: AmplitudePrior | None = None,
) -> torch.Tensor | None:
    """(n, n_leads) log voltages drawn from the checkpoint's amplitude prior (or
    ``prior``, already loaded), or None for a model without amplitude input."""
    prior = prior or ckpt.amplitude_prior()
    if prior is None:
        return None
    axis = ckpt.model_config.amplitude_axis
    rows = [prior.draw(labels, amplitude_rng(seed, i), axis=axis) for i in range(n)]
    return torch.from_numpy(np.stack(rows))


def generate(
    checkpoint: str | Path,
    labels: Sequence[str],
    n: int,
    seed: int,
    steps: int = 50,
    sampler: str = "ddim",
    guidance: float = 1.0,
    device: str = "auto",
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, Provenance]:
    """Generate ``n`` 12-lead ECGs that all carry ``labels``.

    Returns float32 (n, 12, L) in millivolts, leads in canonical order, and the
    provenance. The 8 generated leads are clipped to the canonical +/- CLIP_MV
    before the other four are derived, so Einthoven and Goldberger hold exactly.
    The same checkpoint, labels, seed, sampler, steps and guidance give the same
    ECGs (to float rounding) on any device, because noise is drawn on the CPU; ECG
    i depends on (seed, i) alone, not on ``batch_size``. ``progress(done, total)``
    counts denoising steps over all batches. A model with timing input draws each
    ECG's beats from the checkpoint's rhythm prior, and one with amplitude input
    its per-lead voltage from the amplitude prior, seeded by (seed, i) too.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if guidance < 0:
        raise ValueError(f"guidance must be non-negative, got {guidance}")
    if SHAPE_LABEL in labels:
        raise ValueError(
            f"{SHAPE_LABEL} marks training ECGs without millivolts; it is never asked "
            "for"
        )
    loaded = load_model(checkpoint, device)
    signals = generate_loaded(
        loaded,
        labels,
        n,
        seed,
        steps=steps,
        sampler=sampler,
        guidance=guidance,
        batch_size=batch_size,
        progress=progress,
    )
    provenance = Provenance(
        checkpoint_sha256=loaded.sha256,
        step=loaded.checkpoint.step,
        labels=tuple(labels),
        seed=seed,
        sampler=sampler,
        steps=steps,
        guidance=guidance,
        fs=loaded.checkpoint.fs,
    )
    return signals, provenance


def generate_loaded(
    loaded: LoadedModel,
    labels: Sequence[str],
    n: int,
    seed: int,
    *,
    steps: int = 50,
    sampler: str = "ddim",
    guidance: float = 1.0,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
    amplitude_prior: AmplitudePrior | None = None,
) -> np.ndarray:
    """generate()'s ECGs from a model already loaded, (n, 12, L) millivolts;
    ``amplitude_prior`` replaces the checkpoint's (generator.calibrate tries
    calibrations with it)."""
    ckpt = loaded.checkpoint
    label_vector = torch.from_numpy(multi_hot(list(labels), ckpt.labels))
    generators = [ecg_generator(seed, i) for i in range(n)]
    timing = beat_timing(ckpt, labels, seed, n, loaded.rhythm)
    amplitude = lead_amplitudes(
        ckpt, labels, seed, n, amplitude_prior or loaded.amplitude
    )
    n_batches = -(-n // batch_size)
    outputs = []
    for b in range(n_batches):
        size = min(batch_size, n - b * batch_size)
        batch_labels = label_vector.expand(size, -1).to(loaded.device)
        rows = slice(b * batch_size, b * batch_size + size)
        inputs = {  # the model's per-ECG inputs, where it takes them
            name: None if values is None else values[rows].to(loaded.device)
            for name, values in (("timing", timing), ("amplitude", amplitude))
        }

        def batch_progress(done: int, total: int, b: int = b) -> None:
            if progress is not None:
                progress(b * total + done, n_batches * total)

        x_0 = sample(
            loaded.model,
            loaded.diffusion,
            batch_labels,
            sampler=sampler,
            steps=steps,
            guidance=guidance,
            clip_x0=CLIP_MV / ckpt.data_scale,
            generator=generators[rows],
            progress=batch_progress,
            **inputs,
        )
        outputs.append((x_0 * ckpt.data_scale).float().cpu().numpy())  # (B, 8, L) mV
    return expand_to_12(np.concatenate(outputs)).astype(np.float32)  # (n, 12, L)


def checkpoint_labels(checkpoint: str | Path) -> list[str]:
    """The label vocabulary a checkpoint can be conditioned on."""
    labels = load_model(checkpoint, "cpu").checkpoint.labels
    return [label for label in labels if label != SHAPE_LABEL]
