"""At which noise level does a checkpoint stop repeating a patient's QRS?

    .venv/bin/python bench/diagnose_beats.py \
        --checkpoint fixtures/demo-checkpoint.pt --data ../shared/ecg \
        [--n-records 16] [--steps 50] [--threads 2]

A recording repeats its QRS from beat to beat; the generator's ECGs change it
(``qrs_beat_variation`` in generator.evaluate). Here the first ``--n-records``
SR records of ``val`` (never trained on) are noised to a step t of the forward
process and denoised back with DDIM, the model told each record's own beat
times and voltages, for t from 5% to 100% of the schedule. The QRS change of
what comes back, beside that of the records themselves, says where the change
enters: only from pure noise (the network draws a new QRS for each beat when it
has to invent one), or already from little noise (the last, fine steps redraw
each beat's detail on their own).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from diagnose_recall import own_inputs  # noqa: E402

from generator.api import load_model  # noqa: E402
from generator.ecg import CLIP_MV, expand_to_12, reduce_to_8  # noqa: E402
from generator.evaluate import ecg_features, load_split  # noqa: E402
from generator.sampling import sample  # noqa: E402

START_FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def beat_variation(signals: np.ndarray) -> float:
    """The median QRS change from beat to beat over (n, 12, L) ECGs."""
    return float(
        np.nanmedian([float(ecg_features(x)["qrs_beat_variation"]) for x in signals])
    )


def denoise_from(loaded, x_0, start: int, steps: int, inputs, seed: int) -> np.ndarray:
    """(n, 12, L) mV: x_0 noised to step ``start`` and denoised by DDIM along the
    ``steps``-step schedule's steps at or below it."""
    ckpt = loaded.checkpoint
    labels, timing, amplitude = inputs
    back = sample(
        loaded.model,
        loaded.diffusion,
        labels,
        steps=steps,
        clip_x0=CLIP_MV / ckpt.data_scale,  # as generation clips
        generator=torch.Generator().manual_seed(seed),
        timing=timing,
        amplitude=amplitude,
        start=(x_0, start),
    )
    return expand_to_12((back * ckpt.data_scale).numpy())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--n-records", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    loaded = load_model(args.checkpoint, "cpu")
    ckpt = loaded.checkpoint
    val = load_split(args.data, "val")
    rows = [i for i, r in enumerate(val.rhythms) if r == "SR"][: args.n_records]
    if not rows:
        sys.exit(f"{args.data}: no SR records in val")
    records = val.signals[rows]
    timing, amplitude = own_inputs(loaded, records)
    labels = torch.zeros(len(rows), len(ckpt.labels))
    labels[:, ckpt.labels.index("SR")] = 1
    eight = np.stack([reduce_to_8(x) for x in records]).astype(np.float32)
    x_0 = torch.from_numpy(eight) / ckpt.data_scale

    print(f"{len(rows)} val SR records: QRS change {beat_variation(records):.3f}")
    alphas = loaded.diffusion.alphas_cumprod
    for fraction in START_FRACTIONS:
        start = int(fraction * (loaded.diffusion.n_steps - 1))
        back = denoise_from(
            loaded, x_0, start, args.steps, (labels, timing, amplitude), seed=0
        )
        snr = float(alphas[start] / (1 - alphas[start]))
        print(
            f"from t={start:>4} ({fraction:>4.0%}, signal/noise {snr:9.3g}): "
            f"QRS change {beat_variation(back):.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
