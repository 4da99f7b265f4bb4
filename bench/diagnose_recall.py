"""Does a checkpoint give a training patient back when told that patient's beats?

    .venv/bin/python bench/diagnose_recall.py \
        --checkpoint fixtures/demo-checkpoint.pt --data ../shared/ecg \
        [--n-records 16] [--record ludb/191] [--steps 50] [--threads 2]

A model told beat times (and voltages) learns from the records it trains on;
if it learns them too well, a record's exact beat times become the key to its
waveform, and a rhythm-model draw that happens to match them replays the
patient. Two measurements:

- **Self-recall.** For the first ``--n-records`` SR records of ``train`` (seen)
  and of ``val`` (never seen), the model is told each record's own beat times
  and voltages and draws one ECG; the report gives the similarity
  (generator.similarity, the memorisation audit's) of that ECG to the record.
  Unseen records come back partly too (the same beats in the same places make
  any ECG alike); what a training record gets beyond that is memorised.
- **One record's key** (``--record``, a ``train`` id): four ECGs each from the
  rhythm and voltage priors (as generation draws them), from the record's
  voltages with drawn beats, from its beat times with drawn voltages, and from
  both: the similarity to that record, and how often it is the nearest
  training record of all. Then, with drawn voltages, a perfectly regular
  rhythm at the record's median RR interval and at 0.9 and 1.1 times it: a key
  that is the heart rate itself comes back from the first and not the others.
  (The audit's similarity tolerates shifts, not a change of rate, so a low
  figure at another rate says only that no copy at that rate was drawn.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.amplitude import amplitude_input  # noqa: E402
from generator.api import (  # noqa: E402
    beat_timing,
    ecg_generator,
    lead_amplitudes,
    load_model,
)
from generator.ecg import (  # noqa: E402
    CANONICAL_FS,
    CLIP_MV,
    expand_to_12,
    reduce_to_8,
)
from generator.evaluate import EcgSet, load_split  # noqa: E402
from generator.rhythm import detect_r_peaks, lead_ii, timing_channels  # noqa: E402
from generator.sampling import sample  # noqa: E402
from generator.similarity import WaveformIndex, aligned_pair  # noqa: E402

LABELS = ["SR"]


def own_inputs(loaded, signals: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(n, 12, L) real ECGs -> the timing channels and voltages they would tell."""
    ckpt = loaded.checkpoint
    eight = np.stack([reduce_to_8(x) for x in signals]).astype(np.float32)
    timing = np.stack(
        [
            timing_channels(
                detect_r_peaks(lead_ii(x), ckpt.fs), ckpt.model_config.length, ckpt.fs
            )
            for x in eight
        ]
    )
    amplitude = None
    if loaded.amplitude is not None:
        amplitude = amplitude_input(
            torch.from_numpy(eight),
            loaded.amplitude.reference,
            axis=ckpt.model_config.amplitude_axis,
        )
    return torch.from_numpy(timing), amplitude


def draw(loaded, timing, amplitude, seed: int, steps: int) -> np.ndarray:
    """(n, 12, L) mV ECGs labelled SR from the given inputs."""
    ckpt = loaded.checkpoint
    n = len(timing)
    labels = torch.zeros(n, len(ckpt.labels))
    labels[:, ckpt.labels.index("SR")] = 1
    x_0 = sample(
        loaded.model,
        loaded.diffusion,
        labels,
        sampler="ddim",
        steps=steps,
        clip_x0=CLIP_MV / ckpt.data_scale,  # as generation clips
        generator=[ecg_generator(seed, i) for i in range(n)],
        timing=timing,
        amplitude=amplitude,
    )
    return expand_to_12((x_0 * ckpt.data_scale).float().numpy())


def self_recall(loaded, data: EcgSet, n_records: int, steps: int) -> np.ndarray:
    rows = [i for i, r in enumerate(data.rhythms) if r == "SR"][:n_records]
    timing, amplitude = own_inputs(loaded, data.signals[rows])
    drawn = draw(loaded, timing, amplitude, seed=5, steps=steps)
    return np.array(
        [
            aligned_pair(x, data.signals[i], CANONICAL_FS)[3]
            for x, i in zip(drawn, rows, strict=True)
        ]
    )


def record_key(loaded, train: EcgSet, record: str, steps: int, n: int = 4) -> None:
    if record not in train.ids:
        raise SystemExit(f"{record} is not a train record of this dataset")
    j = train.ids.index(record)
    ckpt = loaded.checkpoint
    own_timing, own_amplitude = own_inputs(loaded, train.signals[j : j + 1])
    timing = beat_timing(ckpt, LABELS, 123, n, loaded.rhythm)
    amplitude = lead_amplitudes(ckpt, LABELS, 123, n, loaded.amplitude)
    index = WaveformIndex(CANONICAL_FS, train.signals.shape[-1])
    for signal in train.signals:
        index.add(signal)
    told = own_amplitude.expand(n, -1) if own_amplitude is not None else None
    beats = own_timing.expand(n, -1, -1)
    peaks = detect_r_peaks(lead_ii(reduce_to_8(train.signals[j])), ckpt.fs)
    rr = float(np.median(np.diff(peaks)))
    length = ckpt.model_config.length

    def regular(scale: float) -> torch.Tensor:
        at = peaks[0] + rr * scale * np.arange(int(length / (rr * scale)) + 1)
        channels = timing_channels(at[at < length], length, ckpt.fs)
        return torch.from_numpy(channels).expand(n, -1, -1)

    print(f"\n{record}: {n} SR ECGs each, similarity to it (and how often it is")
    print("the nearest of the train records)")
    for name, t, a in (
        ("both drawn from the priors", timing, amplitude),
        ("its voltages, drawn beats", timing, told),
        ("its beat times, drawn voltages", beats, amplitude),
        ("its beat times and voltages", beats, told),
        (f"regular at its RR {rr:.0f}", regular(1.0), amplitude),
        ("regular at 0.9 times it", regular(0.9), amplitude),
        ("regular at 1.1 times it", regular(1.1), amplitude),
    ):
        ecgs = draw(loaded, t, a, seed=123, steps=steps)
        values = np.stack([index.similarities(x) for x in ecgs])
        nearest = int((values.argmax(axis=1) == j).sum())
        print(
            f"  {name:<32} median {np.median(values[:, j]):.3f} "
            f"max {values[:, j].max():.3f}  nearest {nearest}/{n}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", default="../shared/ecg")
    parser.add_argument("--n-records", type=int, default=16)
    parser.add_argument("--record", default="ludb/191")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    loaded = load_model(args.checkpoint, "cpu")
    if not loaded.checkpoint.model_config.timing_channels:
        raise SystemExit("this checkpoint takes no beat times: nothing to key on")
    train = load_split(args.data, "train")
    seen = self_recall(loaded, train, args.n_records, args.steps)
    val = load_split(args.data, "val")
    unseen = self_recall(loaded, val, args.n_records, args.steps)
    print("told a record's own beat times and voltages, similarity to that record:")
    for name, values in (("train (seen)", seen), ("val (unseen)", unseen)):
        print(
            f"  {name:<13} median {np.median(values):.3f} mean {values.mean():.3f} "
            f"max {values.max():.3f} (n={len(values)})"
        )
    print(f"  memorised beyond the beats: {np.median(seen) - np.median(unseen):+.3f}")
    if args.record:
        record_key(loaded, train, args.record, args.steps)


if __name__ == "__main__":
    main()
