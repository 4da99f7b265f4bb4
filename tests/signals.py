"""Plausible synthetic 12-lead ECGs for tests that need no real data."""

import numpy as np

from generator.ecg import LEADS

# Rough per-lead QRS amplitude (mV) so that the sheet looks like a normal ECG.
_LEAD_GAIN = np.array([0.8, 1.2, 0.4, -1.0, 0.3, 0.8, -0.6, -0.2, 0.6, 1.2, 1.4, 1.0])


def synthetic_ecg(
    fs: float = 100, seconds: float = 10.0, heart_rate: float = 72.0, seed: int = 0
) -> np.ndarray:
    """A (12, N) millivolt ECG-like signal: P, QRS and T waves as Gaussians."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * fs))) / fs
    beat = np.zeros_like(t)
    for onset in np.arange(0.2, seconds, 60.0 / heart_rate):
        for offset, width, height in (
            (0.0, 0.025, 0.15),
            (0.16, 0.010, -0.1),
            (0.18, 0.012, 1.0),
            (0.20, 0.010, -0.25),
            (0.45, 0.040, 0.3),
        ):
            beat += height * np.exp(-0.5 * ((t - onset - offset) / width) ** 2)
    noise = 0.01 * rng.standard_normal((len(LEADS), t.size))
    return (_LEAD_GAIN[:, None] * beat[None, :] + noise).astype(np.float32)


def recording(seed: int) -> np.ndarray:
    """A 500-Hz "recording": every stored lead with its own quantisation noise, as
    an ECG machine writes its leads."""
    rng = np.random.default_rng(1000 + seed)
    raw = synthetic_ecg(500, seed=seed, heart_rate=60 + 3 * seed).astype(np.float64)
    return raw + rng.uniform(-0.0025, 0.0025, raw.shape)


def generated(seed: int) -> np.ndarray:
    """A 100-Hz ECG built as the generator builds one: limb leads from I and aVF."""
    from generator.ecg import expand_to_12, reduce_to_8

    return expand_to_12(reduce_to_8(synthetic_ecg(100, seed=50 + seed)))
