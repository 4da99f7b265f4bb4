"""Sample ECGs: python -m generator.sample --checkpoint C --label AF --out x.npz."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from generator.api import checkpoint_labels, generate
from generator.sampling import SAMPLERS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", required=True, help="a generator checkpoint")
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        help="a label of the checkpoint's vocabulary; repeat for several",
    )
    parser.add_argument("--n", type=int, default=8, help="number of ECGs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=50, help="denoising steps")
    parser.add_argument("--sampler", default="ddim", choices=SAMPLERS)
    parser.add_argument("--guidance", type=float, default=1.0, help="1 = no guidance")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", required=True, help="output .npz")
    args = parser.parse_args(argv)
    known = checkpoint_labels(args.checkpoint)
    unknown = [label for label in args.label if label not in known]
    if unknown:
        parser.error(f"unknown label(s) {unknown}; the checkpoint knows {known}")

    with tqdm(total=1, unit="step", desc="denoising") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        signals, provenance = generate(
            args.checkpoint,
            args.label,
            n=args.n,
            seed=args.seed,
            steps=args.steps,
            sampler=args.sampler,
            guidance=args.guidance,
            device=args.device,
            batch_size=args.batch_size,
            progress=progress,
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        signals=signals,
        labels=np.array(args.label, dtype=str),
        fs=np.int64(provenance.fs),
        leads=np.array(provenance.leads, dtype=str),
        provenance=np.array(json.dumps(asdict(provenance))),
    )
    print(f"wrote {out}: {signals.shape[0]} ECGs of {signals.shape[2]} samples")


if __name__ == "__main__":
    main()
