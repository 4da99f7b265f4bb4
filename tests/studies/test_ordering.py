"""Reading orders: reproducible from the seed, shuffled, repeats spaced out."""

import math

import pytest

from ecgstudy.studies.ordering import longest_run, reading_order, repeat_gap


def runs_z(labels) -> float:
    """Wald-Wolfowitz runs test statistic of a two-valued sequence."""
    values = sorted(set(labels))
    n1 = sum(1 for label in labels if label == values[0])
    n2 = len(labels) - n1
    runs = 1 + sum(1 for a, b in zip(labels, labels[1:], strict=False) if a != b)
    mean = 2 * n1 * n2 / (n1 + n2) + 1
    var = (mean - 1) * (mean - 2) / (n1 + n2 - 1)
    return (runs - mean) / math.sqrt(var)


def test_order_reproduces_from_its_seed():
    cases = list(range(40))
    first = reading_order(cases, practice=[100, 101], seed=5, repeat_fraction=0.2)
    again = reading_order(cases, practice=[100, 101], seed=5, repeat_fraction=0.2)
    other = reading_order(cases, practice=[100, 101], seed=6, repeat_fraction=0.2)
    assert first == again
    assert first != other


def test_order_shows_practice_first_every_case_once_and_repeats_later():
    cases = list(range(40))
    order = reading_order(cases, practice=[100, 101], seed=3, repeat_fraction=0.25)
    assert {case for case, _ in order[:2]} == {100, 101}
    first_round = [case for case, round_ in order[2:] if round_ == 1]
    assert sorted(first_round) == cases
    repeats = [case for case, round_ in order if round_ == 2]
    assert len(repeats) == 10
    gap = repeat_gap(40)
    for case in repeats:
        assert order.index((case, 2)) - order.index((case, 1)) > gap


def test_real_and_synthetic_are_interleaved_as_chance_would():
    # 40 real (even) and 40 synthetic (odd) cases: over many readers, the runs
    # test finds no blocking and the longest run stays within what chance gives.
    origin = {case: case % 2 for case in range(80)}
    zs, longest = [], []
    for seed in range(200):
        order = reading_order(list(range(80)), seed=seed)
        labels = [origin[case] for case, _ in order]
        zs.append(runs_z(labels))
        longest.append(longest_run(labels))
    assert abs(sum(zs) / len(zs)) < 0.3
    assert max(abs(z) for z in zs) < 4
    assert max(longest) <= 14  # P(run >= 15) per order is below 1e-3
    blocked = [0] * 40 + [1] * 40
    assert abs(runs_z(blocked)) > 8  # the check above can fail


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cases": [1, 1]}, "distinct"),
        ({"cases": [1, 2], "practice": [2]}, "practice"),
        ({"cases": [1, 2], "repeat_fraction": 0.8}, "repeat_fraction"),
    ],
)
def test_bad_order_requests_raise_with_the_reason(kwargs, message):
    cases = kwargs.pop("cases")
    with pytest.raises(ValueError, match=message):
        reading_order(cases, seed=0, **kwargs)


def test_longest_run():
    assert longest_run([]) == 0
    assert longest_run("aabbba") == 3
