"""Voltage calibration: what to tell a network so that it draws the voltage its
amplitude prior asks for.

    python -m generator.calibrate --checkpoint C [--out D] [--labels SR,AF]

A network told a lead's voltage can draw it smaller than told, the same way for
every ECG: told the voltages its prior draws, the step-22,750 demo network drew
aVF at 0.81 of them, III at 0.76 and I and aVF more alike than asked (see the
README). Each round here generates ECGs as ``generate`` does, measures each
generated lead's SD and the I-aVF axis on them, and adds the shortfall (the log
of the median asked over the median drawn; for the axis the difference of the
median Fisher z) to what the network is told. The calibration kept is the one
of the round whose ECGs came closest, so it is always one that was measured.
No ECG is read: the target is the prior, fitted on the training records, and
the same seed in every round makes the rounds differ by the calibration alone.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from generator.amplitude import MEASURED_LEADS, AmplitudePrior, log_amplitude
from generator.api import LoadedModel, amplitude_rng, generate_loaded, load_model
from generator.checkpoint import load_checkpoint, save_checkpoint
from generator.ecg import INDEPENDENT_LEADS, reduce_to_8

DEFAULT_LABELS = "SR,AF"  # the label sets studies generate
AXIS = "axis"  # the name of the I-aVF Fisher z among the calibrated values


@dataclass(frozen=True)
class CalibrationRound:
    """One round: what the network was told more, and what it drew then."""

    calibration: tuple[float, ...]  # added to each drawn value (log SD, axis z)
    asked: tuple[float, ...]  # median of each value the prior drew
    drawn: tuple[float, ...]  # median of each value measured on the ECGs
    # median log SD of every lead the prior speaks of (MEASURED_LEADS: the 8
    # generated, and with the axis the 4 derived), asked and drawn
    leads_asked: tuple[float, ...]
    leads_drawn: tuple[float, ...]

    @property
    def shortfall(self) -> np.ndarray:
        """How far each median fell short of the asked one (log SD, z)."""
        return np.asarray(self.asked) - np.asarray(self.drawn)

    @property
    def lead_ratios(self) -> np.ndarray:
        """Median SD drawn over median SD asked, per measured lead."""
        return np.exp(np.asarray(self.leads_drawn) - np.asarray(self.leads_asked))

    @property
    def worst(self) -> float:
        """The largest voltage miss of a lead, as |log ratio|."""
        return float(np.abs(np.log(self.lead_ratios)).max())


def value_names(prior: AmplitudePrior) -> tuple[str, ...]:
    """The calibrated values of ``prior``, in its sample() order."""
    return (*INDEPENDENT_LEADS, AXIS)[: prior.width]


def calibration_round(
    loaded: LoadedModel,
    prior: AmplitudePrior,
    label_sets: Sequence[Sequence[str]],
    n_per_label: int,
    *,
    seed: int,
    steps: int,
    batch_size: int = 32,
    progress: Callable[[float], None] | None = None,
) -> CalibrationRound:
    """Generate ``n_per_label`` ECGs per label set told by ``prior`` (its
    calibration included) and compare their voltages with what it asked for."""
    as_drawn = prior.calibrated(())
    asked, drawn, leads_asked, leads_drawn = [], [], [], []
    for labels in label_sets:
        counted = 0.0

        def count(done: int, total: int) -> None:  # denoising steps -> ECGs
            nonlocal counted
            if progress is not None:
                progress(n_per_label * done / total - counted)
                counted = n_per_label * done / total

        values = [
            prior.sample(labels, amplitude_rng(seed, i)) for i in range(n_per_label)
        ]
        asked.extend(values)
        leads_asked.extend(as_drawn.tell(v) for v in values)
        signals = generate_loaded(
            loaded,
            labels,
            n_per_label,
            seed,
            steps=steps,
            batch_size=batch_size,
            amplitude_prior=prior,
            progress=count,
        )
        x_mv = torch.from_numpy(reduce_to_8(signals)).double()  # (n, 8, L)
        drawn.append(prior.measure(x_mv))
        leads_drawn.append(log_amplitude(x_mv, prior.reference))

    def medians(rows) -> tuple[float, ...]:
        return tuple(float(v) for v in np.median(np.stack(rows), axis=0))

    return CalibrationRound(
        calibration=prior.calibration or (0.0,) * prior.width,
        asked=medians(asked),
        drawn=medians(torch.cat(drawn).numpy()),
        leads_asked=medians(leads_asked),
        leads_drawn=medians(torch.cat(leads_drawn).numpy()),
    )


def calibrate(
    loaded: LoadedModel,
    *,
    label_sets: Sequence[Sequence[str]],
    n_per_label: int = 64,
    rounds: int = 3,
    seed: int = 0,
    steps: int = 50,
    progress: Callable[[float], None] | None = None,
) -> list[CalibrationRound]:
    """``rounds`` rounds, each told the last one's calibration plus its
    shortfall; the first is told the prior as drawn."""
    prior = loaded.amplitude
    if prior is None:
        raise ValueError(
            "the checkpoint's network takes no voltage input: nothing to calibrate"
        )
    if rounds < 1 or n_per_label < 2:
        raise ValueError("calibration needs at least 1 round of 2 ECGs per label set")
    prior = prior.calibrated(())
    done: list[CalibrationRound] = []
    for _ in range(rounds):
        found = calibration_round(
            loaded,
            prior,
            label_sets,
            n_per_label,
            seed=seed,
            steps=steps,
            progress=progress,
        )
        done.append(found)
        prior = prior.calibrated(np.asarray(found.calibration) + found.shortfall)
    return done


def describe(found: CalibrationRound, prior: AmplitudePrior) -> str:
    """Median SD drawn over asked, per lead, and the median axis drawn and asked."""
    leads = MEASURED_LEADS[len(prior.reference)]
    cells = [
        f"{name} {ratio:.2f}"
        for name, ratio in zip(leads, found.lead_ratios, strict=True)
    ]
    if prior.axis:
        drawn, asked = np.tanh(found.drawn[-1]), np.tanh(found.asked[-1])
        cells.append(f"corr(I, aVF) {drawn:.2f} for {asked:.2f}")
    return ", ".join(cells)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write the calibrated checkpoint (default: over --checkpoint)",
    )
    parser.add_argument(
        "--labels",
        default=DEFAULT_LABELS,
        help="comma-separated label sets, labels of one set joined by + "
        f"(default {DEFAULT_LABELS})",
    )
    parser.add_argument("--n-per-label", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from generator.evaluate import parse_label_sets

    try:
        label_sets = parse_label_sets(args.labels)
    except ValueError as exc:
        parser.error(str(exc))
    loaded = load_model(args.checkpoint, "cpu")
    known = loaded.checkpoint.labels
    unknown = sorted({label for labels in label_sets for label in labels} - set(known))
    if unknown:
        parser.error(f"unknown label(s) {unknown}; the checkpoint knows {known}")
    if loaded.amplitude is None:
        parser.error("this checkpoint's network takes no voltage input")
    names = value_names(loaded.amplitude)
    total = args.rounds * len(label_sets) * args.n_per_label
    bar_format = "{l_bar}{bar}| {n:.0f}/{total} ECGs [{elapsed}<{remaining}]"
    with tqdm(total=total, desc="calibrating", bar_format=bar_format) as bar:
        rounds = calibrate(
            loaded,
            label_sets=label_sets,
            n_per_label=args.n_per_label,
            rounds=args.rounds,
            seed=args.seed,
            steps=args.steps,
            progress=bar.update,
        )
    for k, found in enumerate(rounds):
        print(f"round {k + 1}: drawn/asked {describe(found, loaded.amplitude)}")
    best = min(rounds, key=lambda found: found.worst)
    kept = rounds.index(best) + 1
    ckpt = load_checkpoint(args.checkpoint)
    ckpt.amplitude = loaded.amplitude.calibrated(best.calibration).to_dict()
    ckpt.extra["voltage_calibration"] = {
        "labels": args.labels,
        "n_per_label": args.n_per_label,
        "rounds": args.rounds,
        "round_kept": kept,
        "steps": args.steps,
        "seed": args.seed,
        "drawn_over_asked": describe(best, loaded.amplitude),
    }
    out = args.out or args.checkpoint
    save_checkpoint(ckpt, out)
    told = ", ".join(
        f"{name} {np.exp(v):.2f}" if name != AXIS else f"axis z {v:+.2f}"
        for name, v in zip(names, best.calibration, strict=True)
    )
    print(f"kept round {kept}: told x {told}; wrote {out}")


if __name__ == "__main__":
    main()
