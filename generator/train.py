"""Train the denoiser: python -m generator.train --data DIR --out var/train/RUN."""

from __future__ import annotations

import argparse
import copy
import csv
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from generator.amplitude import (
    AmplitudePrior,
    amplitude_input,
    reference_sd,
    set_voltage,
)
from generator.checkpoint import (
    Checkpoint,
    load_checkpoint,
    resolve_device,
    save_checkpoint,
)
from generator.data import (
    SHAPE_LABEL,
    BatchSampler,
    first_windows,
    label_vocabulary,
    load_shape_set,
    load_signals,
    load_voltage_set,
    split_records,
    unlabelled,
)
from generator.diffusion import DIFFUSION_PRESETS, DiffusionConfig, GaussianDiffusion
from generator.ecg import CANONICAL_FS, INDEPENDENT_LEADS, LEADS, expand_to_12
from generator.model import MODEL_PRESETS, SSSD, ModelConfig, count_parameters

CHECKPOINT_NAME = "last.pt"
BEST_NAME = "best.pt"  # the weights with the lowest EMA validation loss so far
LOG_NAME = "log.csv"
NEW_LR_SCALE = 5.0  # learning-rate factor of parameters added to a trained network


@dataclass
class TrainConfig:
    batch_size: int = 32  # ECGs per optimiser step
    lr: float = 6e-4  # peak AdamW learning rate
    warmup_steps: int = 200  # linear learning-rate warm-up
    weight_decay: float = 0.01  # AdamW decay on conv and linear weights only
    grad_clip: float = 1.0  # max global gradient norm
    ema_decay: float = 0.999  # EMA of the weights, ramped up over the first steps
    min_snr_gamma: float = 5.0  # Min-SNR loss weighting; 0 = plain MSE
    label_dropout: float = 0.1  # fraction of labels replaced by null (guidance)
    balance: float = 0.5  # rhythm oversampling exponent, 0 uniform over records
    amplitude_jitter: float = 0.1  # +/- relative amplitude scaling
    # Each window slowed by a random factor in [1, 1 + time_stretch] from a random
    # start (data.BatchSampler), so a record's beat times never recur exactly and
    # cannot become the key to its waveform; 0 = whole-sample windows as stored.
    time_stretch: float = 0.0
    # Each window's RR intervals lengthened by a random factor in
    # [1, 1 + diastole_stretch] in diastole alone, P, QRS and T kept as they are,
    # so a record is shown at many heart rates; excludes time_stretch.
    diastole_stretch: float = 0.0
    max_steps: int = 1_000_000  # stop after this many optimiser steps
    max_minutes: float = 0.0  # stop after this wall time in this process; 0 = no limit
    checkpoint_minutes: float = 5.0  # wall time between checkpoints
    eval_every: int = 250  # steps between validation losses
    log_every: int = 25  # steps between log lines
    seed: int = 0  # seed of data order, noise and initial weights
    shape_data: str = ""  # a ptbxl-shape folder: z-scored ECGs for shape and rhythm
    # Comma-separated folders of millivolt ECGs without rhythm labels (CODE-15%,
    # long PTB records): voltages for the label-dropped branch.
    voltage_data: str = ""
    # What voltage a shape record's leads carry (their uploader's z-scoring lost
    # it): "drawn" from the amplitude prior, anew per window, so the model sees the
    # whole range of voltages it is told; "median", every lead at the typical SD.
    shape_voltage: str = "drawn"
    # Where the loss counts the error: 8, in the generated leads I, aVF, V1-V6,
    # equally; 12, in the 12 leads as printed, so I and aVF (which make the other
    # four limb leads) weigh 1.75 and 2.33 times a chest lead (lead_loss_weights).
    loss_leads: int = 8


def parameter_groups(
    model: torch.nn.Module, weight_decay: float, new: Sequence[str] = ()
) -> list[dict]:
    """Decay conv/linear weights; not biases, norms, embeddings or S4 kernels.

    Parameters named in ``new`` (just added to a trained network, starting at zero)
    learn NEW_LR_SCALE times faster, so they catch up with the rest.
    """
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in model.named_parameters():
        is_kernel = ".kernel." in name or name.endswith(".D")
        is_embedding = name.startswith("label_embedding")
        decay = p.ndim >= 2 and not is_kernel and not is_embedding
        groups.setdefault((decay, name in new), []).append(p)
    return [
        {
            "params": params,
            "weight_decay": weight_decay if decay else 0.0,
            "lr_scale": NEW_LR_SCALE if is_new else 1.0,
        }
        for (decay, is_new), params in sorted(groups.items())
    ]


SHAPE_VOLTAGES = ("drawn", "median")
LOSS_LEADS = (len(INDEPENDENT_LEADS), len(LEADS))


def lead_loss_weights(loss_leads: int) -> torch.Tensor | None:
    """(8,) weights of the generated leads' squared errors whose mean is the mean
    squared error over the 12 printed leads (None for 8: all equal).

    The derived leads are linear in I and aVF, and their cross terms cancel (II
    and III carry +-I/2 with aVF, aVR and aVL +-3I/4 with -aVF/2), so each printed
    lead's error is a sum of independent terms: lead j's weight is the sum of its
    squared coefficients over the 12 printed leads, times 8/12.
    """
    if loss_leads not in LOSS_LEADS:
        raise ValueError(f"--loss-leads must be one of {LOSS_LEADS}, got {loss_leads}")
    if loss_leads == len(INDEPENDENT_LEADS):
        return None
    n = len(INDEPENDENT_LEADS)
    coefficients = expand_to_12(torch.eye(n)[:, :, None])[..., 0]  # (8, 12)
    return coefficients.pow(2).sum(dim=1) * n / len(LEADS)


def draw_shape_voltage(
    x_mv: torch.Tensor,
    labels: torch.Tensor,
    vocabulary: Sequence[str],
    prior: AmplitudePrior,
    rng: np.random.Generator,
) -> torch.Tensor:
    """The batch (B, 8, L) with each shape record's leads rescaled to voltages the
    prior draws for its labels, as a new ECG's would be (TrainConfig.shape_voltage).

    Shape records are most of the training records; all at the typical voltage,
    they taught a model told a voltage far from typical to answer near typical
    (told the true voltage of `val` ECGs, the step-22,750 model drew SDs moving
    0.5-0.8 times as much as asked, see the README).
    """
    if SHAPE_LABEL not in vocabulary:
        return x_mv
    rows = (labels[:, list(vocabulary).index(SHAPE_LABEL)] > 0).nonzero().flatten()
    if not len(rows):
        return x_mv
    draws = [
        prior.sample([vocabulary[k] for k in labels[row].nonzero().flatten()], rng)
        for row in rows.tolist()
    ]
    x_mv = x_mv.clone()
    x_mv[rows] = set_voltage(
        x_mv[rows], torch.from_numpy(np.stack(draws)), prior.reference
    )
    return x_mv


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p, 1.0 - decay)


@torch.no_grad()
def validation_loss(
    model: torch.nn.Module,
    diffusion: GaussianDiffusion,
    x_0: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    draws: int = 4,
    timing: torch.Tensor | None = None,
    amplitude: torch.Tensor | None = None,
    channel_weights: torch.Tensor | None = None,
) -> float:
    """Mean loss over fixed noise and evenly spread steps, comparable across runs
    with the same ``channel_weights``."""
    generator = torch.Generator().manual_seed(1234)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    T = diffusion.n_steps
    for draw in range(draws):
        for start in range(0, len(x_0), batch_size):
            rows = slice(start, start + batch_size)
            xb = x_0[rows]
            n = len(xb)
            t = ((torch.arange(n) + start) * 37 + draw * T // draws) % T
            inputs = {
                name: None if values is None else values[rows]
                for name, values in (("timing", timing), ("amplitude", amplitude))
            }
            loss = diffusion.training_loss(
                model,
                xb,
                labels[rows],
                generator=generator,
                t=t.to(xb.device),
                channel_weights=channel_weights,
                **inputs,
            )
            total += loss.item() * n
            count += n
    model.train(was_training)
    return total / max(count, 1)


# what add_inputs may add
INPUT_PARAMETERS = (".timing_conv.", "amplitude_mlp.", ".beat_pool_conv.")


def add_inputs(weights: dict[str, torch.Tensor], cfg: ModelConfig) -> dict:
    """Weights of a model without the timing or amplitude input, made to fit a
    model ``cfg`` with it.

    The new layers' outputs start at zero (the blocks' timing convolutions as
    SSSD initialises its conditioning, the amplitude MLP's last layer), so the
    network computes exactly what it did and learns to use the input from there.
    """
    fresh = SSSD(cfg).state_dict()
    missing = {k: v for k, v in fresh.items() if k not in weights}
    if any(not any(part in k for part in INPUT_PARAMETERS) for k in missing):
        raise ValueError(f"cannot extend these weights: {sorted(missing)}")
    return {**weights, **missing}


WIDENED = "amplitude_mlp.0.weight"  # what widen_amplitude changes


def widen_amplitude(weights: dict[str, torch.Tensor], n_inputs: int) -> dict:
    """Weights whose amplitude MLP takes ``n_inputs`` values instead of fewer
    (more leads' voltage, or the axis after them): the new inputs' weights start
    at zero, so the network computes what it did and learns to use them
    (generator.amplitude.MEASURED_LEADS and amplitude_input append)."""
    old = weights[WIDENED]
    if n_inputs < old.shape[1]:
        raise ValueError(f"cannot narrow the amplitude input to {n_inputs} values")
    extra = torch.zeros(old.shape[0], n_inputs - old.shape[1], dtype=old.dtype)
    return {**weights, WIDENED: torch.cat([old, extra], dim=1)}


def add_labels(weights: dict[str, torch.Tensor], n_new: int) -> dict:
    """Weights whose "sssd" label embedding learns ``n_new`` more labels; their
    rows start at zero, so the network computes what it did for every old label."""
    key = "label_embedding.weight"
    if key not in weights:
        raise ValueError("only the 'sssd' label embedding can learn new labels")
    old = weights[key]
    extra = torch.zeros(n_new, old.shape[1], dtype=old.dtype)
    return {**weights, key: torch.cat([old, extra])}


def train(
    data: str,
    out: str,
    *,
    fmt: str = "index",
    labels_csv: str | None = None,
    preset: str = "cpu",
    label_embedding: str | None = None,
    timing: bool = False,
    amplitude: bool = False,
    amplitude_leads: int | None = None,
    amplitude_axis: bool = False,
    beat_pool: bool = False,
    overrides: dict | None = None,
    resume: bool = False,
    init_from: str | Path | None = None,
    dropout: float | None = None,
    device: str = "auto",
    threads: int = 2,
    progress: bool = True,
) -> Path:
    """Train (or resume) a run in ``out``; returns the checkpoint path.

    ``overrides`` sets TrainConfig fields; on resume they win over the stored ones.
    ``init_from`` continues from another checkpoint's weights, step and labels, with
    a fresh optimizer: e.g. the committed demo checkpoint, when the run folder with
    its full ``last.pt`` is gone. ``timing`` gives the model the beat timing as
    input (generator.rhythm), ``amplitude`` each lead's voltage
    (generator.amplitude) of ``amplitude_leads`` leads (default: a new input
    12, else as the checkpoint has it), and with ``amplitude_axis`` the I-aVF
    correlation too; ``beat_pool`` lets each block see its features' mean over
    the beats (generator.model.beat_mean); a checkpoint without them, or told
    less, is extended (and its optimizer state dropped). ``tc.shape_data`` adds
    the z-scored PTB-XL ECGs of a ptbxl-shape folder with the SHAPE_LABEL
    (generator.data.load_shape_set); a checkpoint without that label learns it.
    ``tc.voltage_data`` adds millivolt ECGs without labels, learnt only
    label-dropped (load_voltage_set). ``dropout`` sets the S4 layers'.
    """
    torch.set_num_threads(threads)
    overrides = overrides or {}
    tc = TrainConfig(**overrides)
    lead_loss_weights(tc.loss_leads)  # a bad value fails before the data loads
    if tc.shape_voltage not in SHAPE_VOLTAGES:
        raise ValueError(
            f"--shape-voltage must be one of {SHAPE_VOLTAGES}, got {tc.shape_voltage!r}"
        )
    dev = resolve_device(device)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / CHECKPOINT_NAME
    log = print if progress else (lambda *a, **k: None)

    train_records, val_records = split_records(data, fmt, labels_csv=labels_csv)
    ckpt = None
    new_parameters: list[str] = []  # added to a trained network in this run
    if resume and init_from:
        raise ValueError("give --resume or --init-from, not both")
    if init_from:
        if not Path(init_from).is_file():
            raise ValueError(f"--init-from {init_from} does not exist")
        resume, ckpt_source = True, Path(init_from)
    else:
        ckpt_source = ckpt_path
    if resume:
        if not ckpt_source.is_file():
            raise ValueError(f"--resume given but {ckpt_source} does not exist")
        ckpt = load_checkpoint(ckpt_source)
        vocabulary = ckpt.labels
        tc = TrainConfig(**{**ckpt.extra.get("train", {}), **overrides})
        model_cfg, diff_cfg = ckpt.model_config, ckpt.diffusion_config
        new_parameters = list(ckpt.extra.get("new_parameters", []))
        added = []
        if timing and not model_cfg.timing_channels:
            model_cfg.timing_channels = 2
            added.append("beat-timing")
        if amplitude and not model_cfg.amplitude_input:
            model_cfg.amplitude_input = True
            model_cfg.amplitude_leads = amplitude_leads or 12
            added.append("amplitude")
        elif amplitude_leads and amplitude_leads != model_cfg.amplitude_leads:
            if not model_cfg.amplitude_input:
                raise ValueError("--amplitude-leads needs --amplitude")
            ckpt.model = widen_amplitude(ckpt.model, amplitude_leads)
            ckpt.ema = widen_amplitude(ckpt.ema, amplitude_leads)
            ckpt.extra.pop("optimizer", None)
            # its new columns start at zero: the layer learns as added weights do
            new_parameters.append(WIDENED)
            log(
                f"the amplitude input is told {amplitude_leads} leads' voltage "
                f"instead of {model_cfg.amplitude_leads}"
            )
            model_cfg.amplitude_leads = amplitude_leads
        if amplitude_axis and not model_cfg.amplitude_axis:
            if not model_cfg.amplitude_input or model_cfg.amplitude_leads != 12:
                raise ValueError("--amplitude-axis needs --amplitude-leads 12")
            model_cfg.amplitude_axis = True
            if "amplitude" not in added:  # a trained amplitude MLP: widened
                for weights in (ckpt.model, ckpt.ema):
                    weights.update(widen_amplitude(weights, model_cfg.amplitude_width))
                ckpt.extra.pop("optimizer", None)
                if WIDENED not in new_parameters:
                    new_parameters.append(WIDENED)
            log("the amplitude input is told the I-aVF correlation too")
        if beat_pool and not model_cfg.beat_pool:
            if not model_cfg.timing_channels:
                raise ValueError("--beat-pool needs --timing")
            model_cfg.beat_pool = True
            added.append("beat-pooling")
        if added:
            extended = add_inputs(ckpt.model, model_cfg)
            fresh = [k for k in extended if k not in ckpt.model]
            new_parameters += fresh
            ckpt.model = extended
            ckpt.ema = {**ckpt.ema, **{k: extended[k] for k in fresh}}
            ckpt.extra.pop("optimizer", None)
            log(f"added the {' and '.join(added)} input to the checkpoint's model")
    else:
        if preset not in MODEL_PRESETS:
            raise ValueError(
                f"unknown preset {preset!r}; allowed: {list(MODEL_PRESETS)}"
            )
        vocabulary = label_vocabulary(train_records)
        model_cfg = ModelConfig(**asdict(MODEL_PRESETS[preset]))
        model_cfg.n_labels = len(vocabulary)
        if label_embedding is not None:
            model_cfg.label_embedding = label_embedding
        if timing:
            model_cfg.timing_channels = 2
        model_cfg.amplitude_input = amplitude
        if amplitude:
            model_cfg.amplitude_leads = amplitude_leads or 12
            model_cfg.amplitude_axis = amplitude_axis
        elif amplitude_axis:
            raise ValueError("--amplitude-axis needs --amplitude")
        if beat_pool and not timing:
            raise ValueError("--beat-pool needs --timing")
        model_cfg.beat_pool = beat_pool
        model_cfg = ModelConfig.from_dict(model_cfg.to_dict())  # validate
        diff_cfg = DiffusionConfig(**asdict(DIFFUSION_PRESETS[preset]))
    if tc.shape_data and SHAPE_LABEL not in vocabulary:
        vocabulary = [*vocabulary, SHAPE_LABEL]
        if ckpt is not None:
            ckpt.model = add_labels(ckpt.model, 1)
            ckpt.ema = add_labels(ckpt.ema, 1)
            ckpt.extra.pop("optimizer", None)
            log(f"the label embedding learns {SHAPE_LABEL}")
        model_cfg.n_labels = len(vocabulary)
    if dropout is not None:
        model_cfg.dropout = dropout

    with_timing = bool(model_cfg.timing_channels)
    train_set = load_signals(
        train_records, vocabulary, progress=progress, timing=with_timing
    )
    val_set = load_signals(
        val_records, vocabulary, progress=progress, timing=with_timing
    )
    amplitude_prior = None
    if model_cfg.amplitude_input:
        # Fitted on the labelled millivolt records only, before any shape data
        # (whose voltages are made up) or unlabelled data join the set.
        stored = ckpt.amplitude if ckpt is not None else None
        windows = first_windows(train_set, model_cfg.length)[0]
        reference = reference_sd(
            windows, model_cfg.amplitude_leads, stored and stored["reference"]
        )
        amplitude_prior = AmplitudePrior.fit(
            windows.numpy(), train_set.names, reference
        )
        log(
            "amplitude prior: "
            + ", ".join(
                f"{name} {g.n_records}" for name, g in amplitude_prior.groups.items()
            )
        )
    if tc.shape_data:
        shape_set = load_shape_set(
            tc.shape_data, vocabulary, train_set.lead_sd(), timing=with_timing
        )
        log(
            f"shape data: {len(shape_set.signals)} z-scored ECGs "
            f"({shape_set.skipped} skipped), leads scaled to the millivolt records'"
        )
        train_set = train_set + shape_set
    if tc.voltage_data:
        folders = [f.strip() for f in tc.voltage_data.split(",") if f.strip()]
        voltage_set = load_voltage_set(
            folders, vocabulary, timing=with_timing, progress=progress
        )
        log(
            f"voltage data: {len(voltage_set.signals)} millivolt ECGs without "
            f"labels ({voltage_set.skipped} skipped), always label-dropped"
        )
        train_set = train_set + voltage_set
    rhythm = train_set.rhythm_prior().to_dict() if with_timing else None
    log(
        f"train: {len(train_set.signals)} records ({train_set.skipped} skipped), "
        f"val: {len(val_set.signals)} ({val_set.skipped} skipped), labels {vocabulary}"
    )
    if ckpt is not None:
        data_scale = ckpt.data_scale
    else:
        data_scale = float(
            torch.cat([torch.from_numpy(s).flatten() for s in train_set.signals]).std()
        )
    sampler = BatchSampler(
        train_set,
        model_cfg.length,
        balance=tc.balance,
        amplitude_jitter=tc.amplitude_jitter,
        time_stretch=tc.time_stretch,
        diastole_stretch=tc.diastole_stretch,
    )
    val_x, val_y, val_timing = (
        first_windows(val_set, model_cfg.length)
        if val_set.signals
        else (None, None, None)
    )
    val_amplitude = None
    if val_x is not None:  # on the device and in model units once, not per check
        if amplitude_prior is not None:
            val_amplitude = amplitude_input(
                val_x, amplitude_prior.reference, axis=model_cfg.amplitude_axis
            ).to(dev)
        val_x, val_y = (val_x / data_scale).to(dev), val_y.to(dev)
        val_timing = None if val_timing is None else val_timing.to(dev)

    channel_weights = lead_loss_weights(tc.loss_leads)
    torch.manual_seed(tc.seed)
    model = SSSD(model_cfg).to(dev)
    ema = copy.deepcopy(model).eval()
    diffusion = GaussianDiffusion(diff_cfg).to(dev)
    optimizer = torch.optim.AdamW(
        parameter_groups(model, tc.weight_decay, new_parameters),
        lr=tc.lr,
        betas=(0.9, 0.99),
    )
    step, wall_before = 0, 0.0
    best_val = math.inf  # lowest validation loss of the EMA weights so far
    if ckpt is not None:
        preset = ckpt.extra.get("preset", preset)
        wall_before = float(ckpt.extra.get("wall_s", 0.0))
        best_val = float(ckpt.extra.get("best_ema_val", math.inf))
        stored_loss_leads = ckpt.extra.get("train", {}).get("loss_leads", 8)
        if stored_loss_leads != tc.loss_leads:
            note = (
                f"the loss now counts {tc.loss_leads} leads instead of "
                f"{stored_loss_leads}: validation losses are not comparable"
            )
            if math.isfinite(best_val):
                note += f", the best so far ({best_val:.5f}) is forgotten"
            log(note)
            best_val = math.inf
        model.load_state_dict(ckpt.model)
        ema.load_state_dict(ckpt.ema)
        if "optimizer" in ckpt.extra:
            optimizer.load_state_dict(ckpt.extra["optimizer"])
        step = ckpt.step
    log(
        f"model {count_parameters(model):,} parameters, preset {preset}, "
        f"{diff_cfg.schedule} schedule T={diff_cfg.n_steps} {diff_cfg.prediction}-"
        f"prediction, data scale {data_scale:.4f} mV, device {dev}, from step {step}"
    )

    def save(path: Path = ckpt_path) -> None:
        save_checkpoint(
            Checkpoint(
                model_config=model_cfg,
                diffusion_config=diff_cfg,
                labels=list(vocabulary),
                data_scale=data_scale,
                fs=CANONICAL_FS,
                model={k: v.detach().cpu() for k, v in model.state_dict().items()},
                ema={k: v.detach().cpu() for k, v in ema.state_dict().items()},
                step=step,
                rhythm=rhythm,
                amplitude=None
                if amplitude_prior is None
                else amplitude_prior.to_dict(),
                extra={
                    "optimizer": optimizer.state_dict(),
                    "train": asdict(tc),
                    "preset": preset,
                    "wall_s": wall_before + time.time() - started,
                    "best_ema_val": best_val,
                    "new_parameters": new_parameters,
                },
            ),
            path,
        )

    log_path = out_dir / LOG_NAME
    if log_path.is_file():  # drop rows logged after the checkpoint being resumed
        with open(log_path, newline="") as fh:
            rows = list(csv.reader(fh))
        kept = rows[:1] + [r for r in rows[1:] if r and int(r[0]) <= step]
        with open(log_path, "w", newline="") as fh:
            csv.writer(fh).writerows(kept)
    new_log = not log_path.is_file() or log_path.stat().st_size == 0
    log_file = open(log_path, "a", newline="")  # noqa: SIM115 (closed in finally)
    writer = csv.writer(log_file)
    if new_log:
        writer.writerow(
            ["step", "wall_s", "train_loss", "val_loss", "ema_val_loss", "lr"]
        )

    generator = torch.Generator().manual_seed(tc.seed * 1_000_003 + step)
    started = last_save = time.time()
    running, running_n = 0.0, 0
    bar = tqdm(
        total=tc.max_steps,
        initial=step,
        disable=not progress,
        mininterval=30,
        file=sys.stderr,
    )
    model.train()
    try:
        while step < tc.max_steps:
            if tc.max_minutes and time.time() - started > tc.max_minutes * 60:
                break
            lr = tc.lr * min(1.0, (step + 1) / max(tc.warmup_steps, 1))
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            x_mv, labels, batch_timing = sampler.sample(tc.batch_size, generator)
            batch_amplitude = None
            if amplitude_prior is not None:
                if tc.shape_voltage == "drawn":
                    seed = int(torch.randint(2**62, (1,), generator=generator))
                    x_mv = draw_shape_voltage(
                        x_mv,
                        labels,
                        vocabulary,
                        amplitude_prior,
                        np.random.default_rng(seed),
                    )
                batch_amplitude = amplitude_input(
                    x_mv, amplitude_prior.reference, axis=model_cfg.amplitude_axis
                )
                batch_amplitude = batch_amplitude.to(dev)
            x_0 = (x_mv / data_scale).to(dev)
            if batch_timing is not None:
                batch_timing = batch_timing.to(dev)
            drop = torch.rand(len(x_0), generator=generator) < tc.label_dropout
            drop = (drop | unlabelled(labels)).to(dev)
            labels = labels.to(dev)
            loss = diffusion.training_loss(
                model,
                x_0,
                labels,
                drop,
                generator=generator,
                min_snr_gamma=tc.min_snr_gamma or None,
                timing=batch_timing,
                amplitude=batch_amplitude,
                channel_weights=channel_weights,
            )
            if not math.isfinite(loss.item()):
                raise RuntimeError(f"loss is {loss.item()} at step {step}; stopping")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            optimizer.step()
            step += 1
            update_ema(ema, model, min(tc.ema_decay, (1 + step) / (10 + step)))
            running += loss.item()
            running_n += 1
            bar.update(1)

            val, ema_val = "", ""
            if val_x is not None and step % tc.eval_every == 0:
                args = (diffusion, val_x, val_y, tc.batch_size)
                inputs = {
                    "timing": val_timing,
                    "amplitude": val_amplitude,
                    "channel_weights": channel_weights,
                }
                val = f"{validation_loss(model, *args, **inputs):.5f}"
                ema_loss = validation_loss(ema, *args, **inputs)
                ema_val = f"{ema_loss:.5f}"
                if ema_loss < best_val:
                    # A small set is overfit long before the training loss says so:
                    # keep the weights that generalised best.
                    best_val = ema_loss
                    save(out_dir / BEST_NAME)
            if step % tc.log_every == 0 or val:
                mean = running / max(running_n, 1)
                writer.writerow(
                    [
                        step,
                        f"{wall_before + time.time() - started:.1f}",
                        f"{mean:.5f}",
                        val,
                        ema_val,
                        f"{lr:.2e}",
                    ]
                )
                log_file.flush()
                elapsed = time.time() - started
                log(
                    f"step {step} loss {mean:.4f}"
                    + (f" val {val} ema_val {ema_val}" if val else "")
                    + f" lr {lr:.1e} {elapsed / 60:.1f} min",
                    flush=True,
                )
                running, running_n = 0.0, 0
            if time.time() - last_save > tc.checkpoint_minutes * 60:
                save()
                last_save = time.time()
    finally:
        bar.close()
        log_file.close()
    save()
    log(f"saved {ckpt_path} at step {step}")
    return ckpt_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="dataset folder")
    parser.add_argument(
        "--format",
        default="index",
        help="index (a folder with index.csv and a split column), ptbxl, mimic, "
        "challenge, ludb or folder",
    )
    parser.add_argument(
        "--out", required=True, help="run folder for last.pt and log.csv"
    )
    parser.add_argument(
        "--labels-csv", default=None, help="label overrides for an import format"
    )
    parser.add_argument("--preset", default="cpu", choices=sorted(MODEL_PRESETS))
    parser.add_argument("--label-embedding", choices=["sssd", "nle"], default=None)
    parser.add_argument(
        "--timing",
        action="store_true",
        help="give the model the beat timing (R peaks) as input; the rhythm then "
        "comes from the training records' RR intervals (generator.rhythm)",
    )
    parser.add_argument(
        "--amplitude",
        action="store_true",
        help="give the model each lead's voltage; generation then draws it from "
        "a prior fitted on the millivolt training records (generator.amplitude)",
    )
    parser.add_argument(
        "--amplitude-leads",
        type=int,
        choices=[8, 12],
        default=None,
        help="the voltage of the 8 generated leads, or of all 12 (the derived "
        "limb leads carry the frontal axis); default 12 for a new input, else as "
        "the checkpoint has it (a checkpoint told 8 is extended to 12)",
    )
    parser.add_argument(
        "--amplitude-axis",
        action="store_true",
        help="tell the model the correlation of leads I and aVF (the frontal axis) "
        "as well as the 12 leads' voltage; a checkpoint without it is extended",
    )
    parser.add_argument(
        "--beat-pool",
        action="store_true",
        help="let every block see its features' mean over the ECG's beats at the "
        "same distance from the R peak, so one beat's QRS can follow the others; "
        "a checkpoint without it is extended",
    )
    parser.add_argument("--resume", action="store_true", help="continue out/last.pt")
    parser.add_argument(
        "--init-from",
        default=None,
        help="continue from another checkpoint's weights (fresh optimizer), e.g. "
        "fixtures/demo-checkpoint.pt",
    )
    parser.add_argument(
        "--dropout", type=float, default=None, help="dropout in the S4 layers"
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    for f in fields(TrainConfig):
        parser.add_argument(
            "--" + f.name.replace("_", "-"), type=type(f.default), default=None
        )
    args = parser.parse_args(argv)
    overrides = {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if getattr(args, f.name) is not None
    }
    train(
        args.data,
        args.out,
        fmt=args.format,
        labels_csv=args.labels_csv,
        preset=args.preset,
        label_embedding=args.label_embedding,
        timing=args.timing,
        amplitude=args.amplitude,
        amplitude_leads=args.amplitude_leads,
        amplitude_axis=args.amplitude_axis,
        beat_pool=args.beat_pool,
        overrides=overrides,
        resume=args.resume,
        init_from=args.init_from,
        dropout=args.dropout,
        device=args.device,
        threads=args.threads,
    )


if __name__ == "__main__":
    main()
