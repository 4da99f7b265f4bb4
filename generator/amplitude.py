"""Per-lead voltage: what the denoiser is told, and the prior it is drawn from.

With ``ModelConfig.amplitude_input`` the denoiser is told, for each of the 8
generated leads (and, with ``amplitude_leads`` 12, the four limb leads derived
from them), how large the ECG is: the log of the lead's standard deviation
over the window relative to a reference (the median SD of that lead over the
millivolt training records). The derived leads carry the frontal axis: III and
aVL are small when I and aVF have the same shape, large when they differ, which
the SDs of I and aVF alone cannot say. A small model trained on a few hundred ECGs that
does not know the voltage hedges between patients while the noise is high and
lands on ECGs of 0.8-0.9 of the real voltage; told the voltage, it has no reason
to (see the README's generator section for the measurements).

In training the value comes from the training window itself; in generation from
``AmplitudePrior``: per rhythm, a multivariate normal over the 8 generated leads'
log amplitudes (and, for 12, the Fisher z of the correlation of I and aVF, from
which the four derived leads' voltages follow exactly: drawn on their own they
would ask for limb leads no ECG has)
fitted on millivolt records (their mean, blended with the pooled mean in
proportion to the group's size, and a shrunk covariance). Like the
rhythm prior it keeps summaries over at least rhythm.MIN_RECORDS records, never one
record's values; it groups records by rhythm as the rhythm prior does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from generator.ecg import INDEPENDENT_LEADS, LEADS, expand_to_12
from generator.rhythm import POOLED, fit_groups, group_for

PRIOR_FORMAT = "amplitude-model-1"  # the 8 generated leads
AXIS_PRIOR_FORMAT = "amplitude-model-2"  # and the I-aVF correlation, for 12
MAX_CORRELATION = 0.999  # kept off +/-1 before the Fisher z
MIN_SD_MV = 1e-3  # a flat lead's SD, floored before the log
MAX_AXIS_Z = float(np.arctanh(MAX_CORRELATION))  # the largest |z| axis_z gives
SHRINKAGE = 0.2  # covariance pulled this far towards its diagonal
LOG_LIMIT = 1.5  # drawn log amplitudes are kept within +/- this (x0.22 to x4.5)
# A rhythm's group draws from its own fit blended with the pooled one as if the
# pooled fit were this many records of that rhythm (partial pooling): 18 AF
# records say little about 8 leads' voltages, 117 SR records more.
POOLING_RECORDS = 20


# The leads whose voltage the model may be told, in the order of its input: the 8
# it generates, then the four it derives (so a model told 8 extends to 12 by
# appending inputs).
DERIVED_LEADS = tuple(name for name in LEADS if name not in INDEPENDENT_LEADS)
MEASURED_LEADS = {
    len(INDEPENDENT_LEADS): tuple(INDEPENDENT_LEADS),
    len(LEADS): (*INDEPENDENT_LEADS, *DERIVED_LEADS),
}
_DERIVED_ROWS = [LEADS.index(name) for name in DERIVED_LEADS]


def measured_leads(x_mv: torch.Tensor, n_leads: int) -> torch.Tensor:
    """(B, 8, L) generated leads -> (B, n_leads, L): themselves, or with the
    derived limb leads appended (MEASURED_LEADS)."""
    if n_leads not in MEASURED_LEADS:
        raise ValueError(
            f"amplitude is measured on {sorted(MEASURED_LEADS)} leads, not {n_leads}"
        )
    if x_mv.ndim != 3 or x_mv.shape[1] != len(INDEPENDENT_LEADS):
        raise ValueError(
            f"expected (B, {len(INDEPENDENT_LEADS)}, L) millivolts, "
            f"got {tuple(x_mv.shape)}"
        )
    if n_leads == len(INDEPENDENT_LEADS):
        return x_mv
    return torch.cat([x_mv, expand_to_12(x_mv)[:, _DERIVED_ROWS]], dim=1)


def log_amplitude(x_mv: torch.Tensor, reference: Sequence[float]) -> torch.Tensor:
    """(B, 8, L) millivolts -> (B, len(reference)): log(SD over time / reference)
    of the leads MEASURED_LEADS names for that many references."""
    leads = measured_leads(x_mv, len(reference))
    ref = torch.as_tensor(reference, dtype=x_mv.dtype, device=x_mv.device)
    return torch.log(leads.std(dim=2).clamp(min=MIN_SD_MV) / ref)


def amplitude_input(
    x_mv: torch.Tensor, reference: Sequence[float], *, axis: bool
) -> torch.Tensor:
    """(B, 8, L) millivolts -> what a model with amplitude input is told: the log
    amplitudes (log_amplitude) and, with ``axis``, the Fisher z of the I-aVF
    correlation after them (ModelConfig.amplitude_axis)."""
    values = log_amplitude(x_mv, reference)
    if not axis:
        return values
    return torch.cat([values, axis_z(x_mv)[:, None].to(values.dtype)], dim=1)


def set_voltage(
    x_mv: torch.Tensor, log_amplitudes: torch.Tensor, reference: Sequence[float]
) -> torch.Tensor:
    """(B, 8, L) millivolts with each generated lead rescaled to the SD that
    ``log_amplitudes`` (B, 8 or 12; the first 8 are used) asks for, its shape and
    baseline untouched. The derived leads, built from the rescaled ones, follow."""
    n = len(INDEPENDENT_LEADS)
    ref = torch.as_tensor(reference[:n], dtype=x_mv.dtype, device=x_mv.device)
    wanted = torch.exp(log_amplitudes[:, :n].to(x_mv.dtype)) * ref
    gain = wanted / x_mv.std(dim=2).clamp(min=MIN_SD_MV)
    centre = x_mv.mean(dim=2, keepdim=True)
    return centre + (x_mv - centre) * gain[:, :, None]


# each derived lead as a combination of the generated ones: (generated lead, derived)
_COMBINATIONS = expand_to_12(np.eye(len(INDEPENDENT_LEADS))[:, :, None])[
    :, _DERIVED_ROWS, 0
]
_I, _AVF = INDEPENDENT_LEADS.index("I"), INDEPENDENT_LEADS.index("aVF")


def axis_z(x_mv: torch.Tensor) -> torch.Tensor:
    """(B, 8, L) millivolts -> (B,): the Fisher z of the correlation of leads I and
    aVF over the window, which with their SDs sets the derived leads' SDs."""
    lead_i = x_mv[:, _I] - x_mv[:, _I].mean(dim=1, keepdim=True)
    lead_avf = x_mv[:, _AVF] - x_mv[:, _AVF].mean(dim=1, keepdim=True)
    norms = (lead_i.square().sum(dim=1) * lead_avf.square().sum(dim=1)).sqrt()
    r = (lead_i * lead_avf).sum(dim=1) / norms.clamp(min=1e-12)
    return torch.atanh(r.clamp(-MAX_CORRELATION, MAX_CORRELATION))


def derived_sd(sd_i: np.ndarray, sd_avf: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The SDs of II, III, aVR, aVL (DERIVED_LEADS), (..., 4), of leads built from
    I and aVF with these SDs and a correlation of tanh(z)."""
    sd_i, sd_avf, r = (np.asarray(v)[..., None] for v in (sd_i, sd_avf, np.tanh(z)))
    a, b = _COMBINATIONS[_I], _COMBINATIONS[_AVF]
    variance = (a * sd_i) ** 2 + (b * sd_avf) ** 2 + 2 * a * b * r * sd_i * sd_avf
    return np.sqrt(np.maximum(variance, MIN_SD_MV**2))


def reference_sd(
    windows: torch.Tensor, n_leads: int, stored: Sequence[float] | None = None
) -> list[float]:
    """The median SD of each measured lead over (records, 8, L) millivolt
    windows: what log amplitude 0 means. ``stored``, a checkpoint's reference
    for its first leads, is kept, so inputs the model has learnt keep their
    meaning when it is told more leads."""
    values = measured_leads(windows, n_leads).std(dim=2).median(dim=0).values
    values = [float(v) for v in values]
    if stored:
        if len(stored) > n_leads:
            raise ValueError(
                f"a model told {len(stored)} leads' voltage cannot be told {n_leads}"
            )
        values[: len(stored)] = [float(v) for v in stored]
    return values


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
    # rhythm name, and POOLED, -> its model of the 8 generated leads' log
    # amplitudes, and for 12 leads the I-aVF axis_z after them
    groups: dict[str, AmplitudeGroup]
    # Added to what sample() draws before the network is told it: the network
    # draws some leads smaller than it is told, so it is told more (fitted by
    # generator.calibrate on the network's own output; empty: told as drawn)
    calibration: tuple[float, ...] = ()
    # what each group draws from: (mean, Cholesky factor) after partial pooling
    _draws: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if POOLED not in self.groups:
            raise ValueError("amplitude prior needs a pooled group of all records")
        if len(self.reference) not in MEASURED_LEADS:
            raise ValueError(f"no amplitude prior of {len(self.reference)} leads")
        width = len(INDEPENDENT_LEADS) + self.axis
        if any(len(g.mean) != width for g in self.groups.values()):
            raise ValueError(
                f"an amplitude prior of {len(self.reference)} leads models "
                f"{width} values per record"
            )
        if self.calibration and len(self.calibration) != width:
            raise ValueError(
                f"a calibration of this prior has {width} values, "
                f"not {len(self.calibration)}"
            )
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
        """Fit on (records, 8, L) millivolt windows and their label sets; the
        number of ``reference`` SDs says how many leads it draws (8 or 12)."""
        windows = torch.from_numpy(np.asarray(windows, dtype=np.float64))
        if len(windows) != len(labels):
            raise ValueError("amplitude prior: one label list per window")
        if not len(windows):
            raise ValueError("amplitude prior needs at least one millivolt record")
        generated = reference[: len(INDEPENDENT_LEADS)]
        values = log_amplitude(windows, generated).numpy()
        if len(reference) == len(LEADS):
            values = np.concatenate([values, axis_z(windows).numpy()[:, None]], 1)
        groups = fit_groups(
            list(values), labels, lambda _, rows: _fit_group(np.stack(rows))
        )
        return cls(reference=tuple(float(v) for v in reference), groups=groups)

    @property
    def axis(self) -> bool:
        """Whether it draws the I-aVF correlation, and so the derived leads."""
        return len(self.reference) == len(LEADS)

    @property
    def width(self) -> int:
        """How many values sample() draws: the generated leads' log amplitudes,
        and with axis the I-aVF axis_z."""
        return len(INDEPENDENT_LEADS) + self.axis

    def measure(self, x_mv: torch.Tensor) -> torch.Tensor:
        """(B, 8, L) millivolts -> (B, width): the values sample() draws, as
        measured on ECGs (to compare what a network drew with what it was asked)."""
        reference = self.reference[: len(INDEPENDENT_LEADS)]
        return amplitude_input(x_mv, reference, axis=self.axis)

    def calibrated(self, calibration: Sequence[float]) -> AmplitudePrior:
        """The same prior telling the network ``calibration`` more (width values)."""
        return replace(self, calibration=tuple(float(v) for v in calibration))

    def to_dict(self) -> dict:
        return {
            "format": AXIS_PRIOR_FORMAT if self.axis else PRIOR_FORMAT,
            "reference": list(self.reference),
            "calibration": list(self.calibration),
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
        if values.get("format") not in (PRIOR_FORMAT, AXIS_PRIOR_FORMAT):
            raise ValueError(f"unknown amplitude prior format {values.get('format')!r}")
        return cls(
            reference=tuple(values["reference"]),
            calibration=tuple(values.get("calibration", ())),
            groups={
                name: AmplitudeGroup(
                    n_records=int(g["n_records"]),
                    mean=tuple(g["mean"]),
                    chol=tuple(tuple(row) for row in g["chol"]),
                )
                for name, g in values["groups"].items()
            },
        )

    def sample(self, names: Sequence[str], rng: np.random.Generator) -> np.ndarray:
        """(width,) the voltage of one new, made-up ECG with these labels: its
        generated leads' log amplitudes and, with axis, the Fisher z of its I-aVF
        correlation (measure()'s layout)."""
        mean, chol = self._draws[group_for(self.groups, names)]
        values = mean + chol @ rng.standard_normal(len(mean))
        n = len(INDEPENDENT_LEADS)
        values[:n] = np.clip(values[:n], -LOG_LIMIT, LOG_LIMIT)
        return values

    def tell(self, values: np.ndarray, *, axis: bool = False) -> np.ndarray:
        """What a network with amplitude input is told (amplitude_input's layout)
        to draw an ECG of sample()'s ``values``: those values plus the
        calibration, the derived leads' following from I, aVF and their
        correlation; with ``axis`` that correlation's Fisher z after them."""
        if axis and not self.axis:
            raise ValueError("an amplitude prior of 8 leads draws no axis")
        values = np.asarray(values, dtype=np.float64)
        if self.calibration:
            values = values + np.asarray(self.calibration)
        n = len(INDEPENDENT_LEADS)
        generated = np.clip(values[:n], -LOG_LIMIT, LOG_LIMIT)
        if not self.axis:
            return generated.astype(np.float32)
        reference = np.asarray(self.reference)
        sd = np.exp(generated) * reference[:n]
        derived = derived_sd(sd[_I], sd[_AVF], values[-1])
        derived = np.log(derived / reference[n:])
        told = [generated, derived]
        if axis:  # as axis_z would measure it on the ECG
            told.append([np.clip(values[-1], -MAX_AXIS_Z, MAX_AXIS_Z)])
        return np.concatenate(told).astype(np.float32)

    def draw(
        self, names: Sequence[str], rng: np.random.Generator, *, axis: bool = False
    ) -> np.ndarray:
        """What the network is told for one new ECG with these labels:
        tell(sample(...))."""
        return self.tell(self.sample(names, rng), axis=axis)
