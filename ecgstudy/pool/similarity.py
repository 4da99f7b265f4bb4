"""Near-duplicates in the pool, kept out of one study.

Two records can hold the same ECG without sharing a byte: a job that repeats
another's seed gives the same synthetic ECG to a microvolt, and one recording can
be published by two datasets, cropped at other instants. Such a pair drawn into one
study shows a reader the same case twice, which betrays it (and weighs it twice).
The measure is ``generator.similarity``'s: the Pearson correlation of the two
12-lead waveforms at their best alignment (shift up to two seconds), averaged over
the z-scored leads. In the 349 canonical ECGs of the shared real set, the 11 pairs
of one recording filed twice correlate at 1.00 and every other record's nearest
neighbour at 0.71 or less (median 0.39), so the threshold sits in a wide gap.
"""

from generator.similarity import DUPLICATE_SIMILARITY, DuplicateGuard

NEAR_DUPLICATE = DUPLICATE_SIMILARITY  # correlation at and above which two are one


def near_duplicate_guard(fs: float, n_samples: int) -> DuplicateGuard:
    """A guard for one study draw: tells when an ECG repeats one already taken."""
    return DuplicateGuard(fs, n_samples, threshold=NEAR_DUPLICATE)
