"""Shared fixtures of the generator tests: a tiny model and its checkpoint."""

import pytest
import torch

from generator.checkpoint import Checkpoint, save_checkpoint
from generator.diffusion import DIFFUSION_PRESETS, GaussianDiffusion
from generator.model import MODEL_PRESETS, SSSD, ModelConfig

TINY_LABELS = ["SR", "AF", "NORM"]


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny models gain nothing from threads, and spinning OpenMP threads slow
    # everything badly when the cores are busy (e.g. with a training run)
    torch.set_num_threads(1)


def tiny_config(**changes) -> ModelConfig:
    values = MODEL_PRESETS["tiny"].to_dict() | {"n_labels": len(TINY_LABELS)} | changes
    return ModelConfig(**values)


@pytest.fixture
def tiny_model() -> SSSD:
    torch.manual_seed(0)
    model = SSSD(tiny_config())
    torch.nn.init.normal_(model.out_conv.weight, std=0.2)  # zero at init otherwise
    return model.eval()


@pytest.fixture
def tiny_diffusion() -> GaussianDiffusion:
    return GaussianDiffusion(DIFFUSION_PRESETS["tiny"])


def save_tiny_checkpoint(model: SSSD, path, *, step: int = 7):
    """Save a tiny model as a checkpoint of the tiny labels (its weights as EMA)."""
    weights = model.state_dict()
    save_checkpoint(
        Checkpoint(
            model_config=model.cfg,
            diffusion_config=DIFFUSION_PRESETS["tiny"],
            labels=TINY_LABELS,
            data_scale=0.25,
            fs=100,
            model=weights,
            ema=weights,
            step=step,
        ),
        path,
    )
    return path


@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_model):
    return save_tiny_checkpoint(tiny_model, tmp_path / "tiny.pt")
