"""Time the study statistics on 30 readers x 400 cases: bootstrap and agreement."""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable

import numpy as np

from ecgstudy.analysis.stats import (
    bootstrap_ci,
    cohen_kappa,
    detection_summary,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    rating_matrix,
)


def simulated_study(n_readers: int, n_cases: int, seed: int) -> dict[str, np.ndarray]:
    """Every reader judges every case; readers differ in skill, cases in difficulty."""
    rng = np.random.default_rng(seed)
    reader = np.repeat(np.arange(n_readers), n_cases)
    case = np.tile(np.arange(n_cases), n_readers)
    truth = np.tile(rng.random(n_cases) < 0.5, n_readers)
    logit = (
        0.4 + rng.normal(0, 0.5, n_readers)[reader] + rng.normal(0, 1, n_cases)[case]
    )
    correct = rng.random(reader.size) < 1 / (1 + np.exp(-logit))
    answer = np.where(correct, truth, ~truth)
    confidence = rng.integers(1, 6, size=reader.size)
    return {
        "reader": reader,
        "case": case,
        "truth": truth,
        "answer": answer,
        "confidence": confidence,
    }


def accuracy(table: dict[str, np.ndarray]) -> float:
    return float(np.mean(table["truth"] == table["answer"]))


def accuracy_gap(table: dict[str, np.ndarray]) -> float:
    """Accuracy on real cases minus accuracy on synthetic ones."""
    right = table["truth"] == table["answer"]
    return float(right[~table["truth"]].mean() - right[table["truth"]].mean())


def answer_ac1(table: dict[str, np.ndarray]) -> float:
    """Gwet's AC1 of the real/synthetic answers, readers as raters."""
    return gwet_ac1(rating_matrix(table, "answer"), categories=[0, 1])


def timed(run: Callable[[], object], repeats: int) -> list[float]:
    """Wall times in seconds of ``repeats`` calls after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readers", type=int, default=30)
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--draws", type=int, default=2000, help="bootstrap draws")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs each")
    args = parser.parse_args()

    study = simulated_study(args.readers, args.cases, seed=0)
    answers = rating_matrix(study, "answer")  # (cases, readers)
    counts = np.stack([np.sum(answers == v, axis=1) for v in (0, 1)], axis=1)
    pairs = list(itertools.combinations(range(args.readers), 2))
    accuracy_table = {k: study[k] for k in ("reader", "case", "truth", "answer")}

    def all_pairwise_kappas() -> list[float]:
        return [cohen_kappa(answers[:, i], answers[:, j]) for i, j in pairs]

    jobs: list[tuple[str, Callable[[], object]]] = [
        (
            f"bootstrap_ci accuracy, {args.draws} draws",
            lambda: bootstrap_ci(accuracy_table, accuracy, n_boot=args.draws),
        ),
        (
            f"bootstrap_ci real-synthetic gap, {args.draws} draws",
            lambda: bootstrap_ci(accuracy_table, accuracy_gap, n_boot=args.draws),
        ),
        (
            f"bootstrap_ci Gwet's AC1, {args.draws} draws",
            lambda: bootstrap_ci(
                {k: study[k] for k in ("reader", "case", "answer")},
                answer_ac1,
                n_boot=args.draws,
            ),
        ),
        (
            "detection_summary with ROC AUC",
            lambda: detection_summary(
                study["truth"], study["answer"], study["confidence"]
            ),
        ),
        ("rating_matrix", lambda: rating_matrix(study, "answer")),
        ("fleiss_kappa", lambda: fleiss_kappa(counts)),
        ("krippendorff_alpha nominal", lambda: krippendorff_alpha(answers.T)),
        ("gwet_ac1", lambda: gwet_ac1(answers)),
        ("cohen_kappa, one pair", lambda: cohen_kappa(answers[:, 0], answers[:, 1])),
        (f"cohen_kappa, all {len(pairs)} pairs", all_pairwise_kappas),
    ]

    n = study["reader"].size
    print(f"{args.readers} readers x {args.cases} cases = {n} judgments")
    print(f"{'function':<44} {'median s':>9} {'min s':>8} {'max s':>8}")
    for name, run in jobs:
        times = timed(run, args.repeats)
        print(
            f"{name:<44} {statistics.median(times):>9.4f} {min(times):>8.4f}"
            f" {max(times):>8.4f}"
        )


if __name__ == "__main__":
    main()
