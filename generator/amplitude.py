"""Per-lead voltage: what the denoiser is told, and the prior it is drawn from.

With ``ModelConfig.amplitude_input`` the denoiser is told, for each of the 8
generated leads, how large the ECG is: the log of the lead's standard deviation
over the window relative to a reference (the median SD of that lead over the
millivolt training records). A small model trained on a few hundred ECGs that
does not know the voltage hedges between patients while the noise is high and
lands on ECGs of 0.8-0.9 of the real voltage; told the voltage, it has no reason
to (see the README's generator section for the measurements).

In training the value comes from the training window itself; in generation from
``AmplitudePrior``: per rhythm, a multivariate normal over the 8 log amplitudes
fitted on millivolt records (their mean, blended with the pooled mean in
proportion to the group's size, and a shrunk covariance). Like the
rhythm prior it keeps summaries over at least rhythm.MIN_RECORDS records, never one
record's values; it groups records by rhythm as the rhythm prior does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from generator.rhythm import POOLED, fit_groups, group_for

PRIOR_FORMAT = "amplitude-model-1"
MIN_SD_MV = 1e-3  # a flat lead's SD, floored before the log
SHRINKAGE = 0.2  # covariance pulled this far towards its diagonal
LOG_LIMIT = 1.5  # drawn log amplitudes are kept within +/- this (x0.22 to x4.5)
# A rhythm's group draws from its own fit blended with the pooled one as if the
# pooled fit were this many records of that rhythm (partial pooling): 18 AF
# records say little about 8 leads' voltages, 117 SR records more.
POOLING_RECORDS = 20


def log_amplitude(x_mv: torch.Tensor, reference: Sequence[float]) -> torch.Tensor:
    """(B, n_leads, L) millivolts -> (B, n_leads): log(SD over time / reference)."""
    ref = torch.as_tensor(reference, dtype=x_mv.dtype, device=x_mv.device)
    if x_mv.ndim != 3 or x_mv.shape[1] != ref.numel():
        raise ValueError(
            f"expected (B, {ref.numel()}, L) millivolts, got {tuple(x_mv.shape)}"
        )
    return torch.log(x_mv.std(dim=2).clamp(min=MIN_SD_MV) / ref)


@dataclass(frozen=True)
class AmplitudeGroup:
    """The spread of per-lead log amplitudes over the records of one rhythm."""

    n_records: int
    mean: tuple[float, ...]  # (n_leads,)
    chol: tuple[tuple[float, ...], ...]  # Cholesky factor of the shrunk covariance

    def mean_pooled_with(self, pooled: AmplitudeGroup) -> np.ndarray:
        """The group's mean blended with ``pooled``'s (POOLING_RECORDS). The
        spread stays the group's own: the pooled one also holds the differences
        between rhythms."""
        w = self.n_records / (self.n_records + POOLING_RECORDS)
        return w * np.asarray(self.mean) + (1 - w) * np.asarray(pooled.mean)


def _fit_group(values: np.ndarray) -> AmplitudeGroup:
    """A group from (records, n_leads) log amplitudes."""
    n, k = values.shape
    cov = np.cov(values, rowvar=False) if n > 1 else np.zeros((k, k))
    # Few records estimate 36 covariances poorly: shrink towards the diagonal,
    # and keep it positive definite for the Cholesky factor.
    cov = (1 - SHRINKAGE) * cov + SHRINKAGE * np.diag(np.diag(cov))
    cov = cov + 1e-6 * np.eye(k)
    return AmplitudeGroup(
        n_records=n,
        mean=tuple(float(v) for v in values.mean(axis=0)),
        chol=tuple(tuple(float(v) for v in row) for row in np.linalg.cholesky(cov)),
    )


@dataclass
class AmplitudePrior:
    """A generative model of per-lead voltage, per rhythm, fitted on millivolt
    training records; the reference SDs define what log amplitude 0 means."""

    reference: tuple[float, ...]  # (n_leads,) mV
    groups: dict[str, AmplitudeGroup]  # rhythm name, and POOLED, -> its model
    # what each group draws from: (mean, Cholesky factor) after partial pooling
    _draws: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if POOLED not in self.groups:
            raise ValueError("amplitude prior needs a pooled group of all records")
        pooled = self.groups[POOLED]
        self._draws = {
            name: (
                np.asarray(g.mean) if name == POOLED else g.mean_pooled_with(pooled),
                np.asarray(g.chol),
            )
            for name, g in self.groups.items()
        }

    @classmethod
    def fit(
        cls,
        windows: np.ndarray,
        labels: Sequence[Sequence[str]],
        reference: Sequence[float],
    ) -> AmplitudePrior:
        """Fit on (records, n_leads, L) millivolt windows and their label sets."""
        windows = np.asarray(windows, dtype=np.float64)
        if len(windows) != len(labels):
            raise ValueError("amplitude prior: one label list per window")
        if not len(windows):
            raise ValueError("amplitude prior needs at least one millivolt record")
        values = log_amplitude(torch.from_numpy(windows), reference).numpy()
        groups = fit_groups(
            list(values), labels, lambda _, rows: _fit_group(np.stack(rows))
        )
        return cls(reference=tuple(float(v) for v in reference), groups=groups)

    def to_dict(self) -> dict:
        return {
            "format": PRIOR_FORMAT,
            "reference": list(self.reference),
            "groups": {
                name: {
                    "n_records": g.n_records,
                    "mean": list(g.mean),
                    "chol": [list(row) for row in g.chol],
                }
                for name, g in self.groups.items()
            },
        }

    @classmethod
    def from_dict(cls, values: dict) -> AmplitudePrior:
        if values.get("format") != PRIOR_FORMAT:
            raise ValueError(f"unknown amplitude prior format {values.get('format')!r}")
        return cls(
            reference=tuple(values["reference"]),
            groups={
                name: AmplitudeGroup(
                    n_records=int(g["n_records"]),
                    mean=tuple(g["mean"]),
                    chol=tuple(tuple(row) for row in g["chol"]),
                )
                for name, g in values["groups"].items()
            },
        )

    def draw(self, names: Sequence[str], rng: np.random.Generator) -> np.ndarray:
        """(n_leads,) log amplitudes for one new, made-up ECG with these labels."""
        mean, chol = self._draws[group_for(self.groups, names)]
        values = mean + chol @ rng.standard_normal(len(mean))
        return np.clip(values, -LOG_LIMIT, LOG_LIMIT).astype(np.float32)
