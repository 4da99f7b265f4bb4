"""Reading orders: practice first, then every case shuffled, repeats spaced out.

Pure functions of a seed, so that an order stored in the database can be drawn
again and checked. ``random.Random`` is used because its shuffle and sample have
kept the same stream for a given seed across Python versions.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Sequence
from typing import TypeVar

Case = TypeVar("Case", bound=Hashable)


def repeat_gap(n_cases: int) -> int:
    """Fewest cases between a case and its repeat: a quarter of the study, >= 2."""
    return max(2, n_cases // 4)


def reading_order(
    cases: Sequence[Case],
    *,
    practice: Sequence[Case] = (),
    seed: int,
    repeat_fraction: float = 0.0,
) -> list[tuple[Case, int]]:
    """One reader's order as (case, round) pairs; round 2 is a repeat.

    Counted cases are shuffled uniformly, so real and synthetic ECGs are
    interleaved at random. ``round(repeat_fraction * n)`` of them are shown a
    second time, each at least ``repeat_gap(n)`` places after its first showing.
    """
    if len(set(cases)) != len(cases):
        raise ValueError("cases must be distinct")
    if set(cases) & set(practice):
        raise ValueError("a practice case cannot also be a counted case")
    if not 0 <= repeat_fraction <= 0.5:
        raise ValueError(f"repeat_fraction must be in [0, 0.5], got {repeat_fraction}")
    rng = random.Random(seed)
    warm_up = list(practice)
    rng.shuffle(warm_up)
    order = list(cases)
    rng.shuffle(order)

    n_repeats = math.floor(repeat_fraction * len(order) + 0.5)
    gap = repeat_gap(len(order))
    # Only a case shown early enough can be repeated a full gap later.
    eligible = order[: max(0, len(order) - gap)]
    n_repeats = min(n_repeats, len(eligible))
    sequence: list[tuple[Case, int]] = [(case, 1) for case in order]
    for case in rng.sample(eligible, n_repeats):
        first = sequence.index((case, 1))
        # Inserting after a case's first showing only ever widens earlier gaps.
        sequence.insert(rng.randint(first + gap + 1, len(sequence)), (case, 2))
    return [(case, 1) for case in warm_up] + sequence


def longest_run(labels: Sequence[Hashable]) -> int:
    """Length of the longest run of equal consecutive labels (0 for none)."""
    longest = current = 0
    previous = object()
    for label in labels:
        current = current + 1 if label == previous else 1
        previous = label
        longest = max(longest, current)
    return longest


SIDES = ("left", "right")


def pair_up(
    real: dict[str, Sequence[Case]], synthetic: dict[str, Sequence[Case]], *, seed: int
) -> list[tuple[Case, Case]]:
    """(real, synthetic) pairs of one label: each synthetic case with a real case
    of its label drawn at random, each case in one pair.

    Raises ValueError naming every label whose real and synthetic cases differ in
    number, as "AF: 3 synthetic, 2 real".
    """
    shortages = [
        f"{label}: {len(synthetic.get(label, ()))} synthetic, "
        f"{len(real.get(label, ()))} real"
        for label in sorted(set(real) | set(synthetic))
        if len(real.get(label, ())) != len(synthetic.get(label, ()))
    ]
    if shortages:
        raise ValueError("; ".join(shortages))
    rng = random.Random(seed)
    pairs = []
    for label in sorted(synthetic):
        partners = list(real[label])
        rng.shuffle(partners)
        pairs += list(zip(partners, synthetic[label], strict=True))
    return pairs


def pair_sides(n: int, *, seed: int) -> list[str]:
    """The side of the real ECG on each of n pages: a fair coin per page, drawn
    from the reader's seed on a stream of its own, so that the order of cases
    and the sides are independent."""
    rng = random.Random(f"sides:{seed}")
    return [rng.choice(SIDES) for _ in range(n)]


def staircase_next(
    exposure_ms: int, *, correct: bool, factor: float, low: int, high: int
) -> int:
    """The exposure after an answer: one down after a correct answer, one up after
    a wrong one, in steps of ``factor`` and within [low, high].

    One-down one-up converges on the exposure answered correctly half the time
    (Levitt 1971), which for a real-or-synthetic choice is chance.
    """
    if factor <= 1:
        raise ValueError(f"the step factor must be above 1, not {factor}")
    following = exposure_ms / factor if correct else exposure_ms * factor
    return int(min(max(round(following), low), high))
