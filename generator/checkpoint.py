"""Checkpoint save/load; the config and the label vocabulary travel inside."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from generator.amplitude import AmplitudePrior
from generator.diffusion import DiffusionConfig, GaussianDiffusion
from generator.model import SSSD, ModelConfig
from generator.rhythm import RhythmPrior

FORMAT = "ecgstudy-sssd-ecg/1"


class CheckpointError(ValueError):
    """A file that is not a generator checkpoint this code can read."""


@dataclass
class Checkpoint:
    """Everything a checkpoint holds; ``config`` is plain data, never pickled code."""

    model_config: ModelConfig
    diffusion_config: DiffusionConfig
    labels: list[str]  # the multi-hot vocabulary, in column order
    data_scale: float  # millivolts per model unit: signal_mv = x_0 * data_scale
    fs: int  # sampling rate of the generated signal, Hz
    model: dict[str, torch.Tensor]  # raw weights
    ema: dict[str, torch.Tensor]  # exponential moving average of the weights
    step: int  # optimiser steps taken
    extra: dict = field(default_factory=dict)  # optimizer state, train config, ...
    rhythm: dict | None = None  # RhythmPrior.to_dict() of a model with timing input
    amplitude: dict | None = None  # AmplitudePrior.to_dict(), with amplitude input

    def build(self, *, ema: bool = True, device: str | torch.device = "cpu") -> SSSD:
        """The network with the EMA (default) or raw weights, in eval mode."""
        net = SSSD(self.model_config)
        net.load_state_dict(self.ema if ema else self.model)
        return net.to(device).eval()

    def build_diffusion(self, device: str | torch.device = "cpu") -> GaussianDiffusion:
        return GaussianDiffusion(self.diffusion_config).to(device)

    def rhythm_prior(self) -> RhythmPrior | None:
        """Where a model with timing input takes its beats from; None without."""
        if not self.model_config.timing_channels:
            return None
        if self.rhythm is None:
            raise CheckpointError("a model with timing input needs a rhythm prior")
        return RhythmPrior.from_dict(self.rhythm)

    def amplitude_prior(self) -> AmplitudePrior | None:
        """Where a model with amplitude input takes its voltages; None without."""
        if not self.model_config.amplitude_input:
            return None
        if self.amplitude is None:
            raise CheckpointError("a model with amplitude input needs its prior")
        return AmplitudePrior.from_dict(self.amplitude)


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but torch sees no CUDA device")
    return torch.device(name)


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> None:
    """Write atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "config": {
            "model": ckpt.model_config.to_dict(),
            "diffusion": ckpt.diffusion_config.to_dict(),
            "data_scale": float(ckpt.data_scale),
            "fs": int(ckpt.fs),
        },
        "labels": list(ckpt.labels),
        "model": ckpt.model,
        "ema": ckpt.ema,
        "step": int(ckpt.step),
        **ckpt.extra,
    }
    if ckpt.rhythm is not None:
        # Always the rhythm model's own form: a prior stored as records' RR
        # sequences (before the model) is fitted here and the sequences dropped.
        payload["rhythm"] = RhythmPrior.from_dict(ckpt.rhythm).to_dict()
    if ckpt.amplitude is not None:
        payload["amplitude"] = AmplitudePrior.from_dict(ckpt.amplitude).to_dict()
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> Checkpoint:
    """Read with ``weights_only=True``; raise CheckpointError for another format."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path} is not a readable torch checkpoint: {exc}"
        ) from exc
    found = payload.get("format") if isinstance(payload, dict) else None
    if found != FORMAT:
        raise CheckpointError(
            f"{path} has format {found!r}; this code reads {FORMAT!r} "
            "(train with python -m generator.train)"
        )
    missing = {"config", "labels", "model", "ema", "step"} - set(payload)
    if missing:
        raise CheckpointError(f"{path} lacks {sorted(missing)}")
    config = payload["config"]
    known = {
        *("format", "config", "labels", "model", "ema", "step"),
        *("rhythm", "amplitude"),
    }
    return Checkpoint(
        model_config=ModelConfig.from_dict(config["model"]),
        diffusion_config=DiffusionConfig.from_dict(config["diffusion"]),
        labels=list(payload["labels"]),
        data_scale=float(config["data_scale"]),
        fs=int(config["fs"]),
        model=payload["model"],
        ema=payload["ema"],
        step=int(payload["step"]),
        extra={k: v for k, v in payload.items() if k not in known},
        rhythm=payload.get("rhythm"),
        amplitude=payload.get("amplitude"),
    )


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, the checkpoint's identity in provenance records."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_checkpoint(
    src: str | Path, dst: str | Path, dtype: torch.dtype = torch.float16
) -> Path:
    """A small copy for shipping: EMA weights only (as both model and ema), no
    optimizer state, stored in ``dtype``; loading casts back to float32."""
    ckpt = load_checkpoint(src)
    weights = {
        k: v.to(dtype) if v.is_floating_point() else v for k, v in ckpt.ema.items()
    }
    ckpt.model = ckpt.ema = weights  # one tensor set, serialised once
    ckpt.extra = {"exported_from_step": ckpt.step, "weights_dtype": str(dtype)}
    save_checkpoint(ckpt, dst)
    return Path(dst)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Export a small copy of a checkpoint.")
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    args = parser.parse_args(argv)
    out = export_checkpoint(args.src, args.dst, getattr(torch, args.dtype))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
