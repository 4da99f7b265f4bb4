"""A simulated reader study with known reader behaviour, as the report's long table."""

import numpy as np

from ecgstudy.analysis.report import StudyInfo, StudyTable

OPTIONS = [
    ["SR", "Normal sinus rhythm"],
    ["AF", "Atrial fibrillation"],
    ["other", "Other"],
]


def simulate(
    *,
    readers: int = 20,
    cases: int = 100,
    accuracy: float = 0.6,
    af_read_as_af: tuple[float, float] = (0.9, 0.7),  # (real, synthetic)
    repeats: int = 10,
    seed: int = 0,
) -> tuple[StudyTable, StudyInfo]:
    """Every reader reads every case once, and ``repeats`` of them twice.

    Half the cases are synthetic and half are AF. A reader's real-or-synthetic
    answer is right with probability ``accuracy``, more confidently when right; an
    AF case is called AF with the given probabilities, an SR case always SR.
    """
    rng = np.random.default_rng(seed)
    synthetic = np.arange(cases) % 2 == 1
    rhythm = np.where((np.arange(cases) // 2) % 2 == 0, "AF", "SR")
    rows = []
    for r in range(readers):
        shown = [(c, 1) for c in range(cases)]
        shown += [(c, 2) for c in rng.choice(cases, repeats, replace=False)]
        for c, round_ in shown:
            right = rng.random() < accuracy
            called_synthetic = synthetic[c] if right else not synthetic[c]
            confidence = rng.integers(3, 6) if right else rng.integers(1, 4)
            if rhythm[c] == "AF":
                p = af_read_as_af[int(synthetic[c])]
                diagnosis = "AF" if rng.random() < p else "other"
            else:
                diagnosis = "SR"
            rows.append(
                (
                    f"R{r:02d}",
                    "Site A" if r % 2 else "Site B",
                    "resident" if r < readers // 2 else "cardiologist",
                    f"case{c:03d}",
                    round_,
                    bool(synthetic[c]),
                    rhythm[c],
                    "synthetic" if called_synthetic else "real",
                    float(confidence),
                    diagnosis,
                    ["good", "acceptable", "poor"][rng.integers(0, 3)],
                    float(rng.gamma(4, 5)),
                )
            )
    columns = list(zip(*rows, strict=True))
    table = StudyTable(
        reader=np.array(columns[0]),
        site=np.array(columns[1]),
        experience=np.array(columns[2]),
        case=np.array(columns[3]),
        round=np.array(columns[4]),
        synthetic=np.array(columns[5]),
        rhythm=np.array(columns[6]),
        answer=np.array(columns[7]),
        confidence=np.array(columns[8]),
        diagnosis=np.array(columns[9]),
        quality=np.array(columns[10]),
        seconds=np.array(columns[11]),
    )
    info = StudyInfo(
        name="Simulated",
        status="Launched",
        ask_origin=True,
        ask_confidence=True,
        confidence_levels=5,
        ask_diagnosis=True,
        diagnosis_options=OPTIONS,
        ask_quality=True,
        n_real=int((~synthetic).sum()),
        n_synthetic=int(synthetic.sum()),
        progress=[
            {
                "reader": f"R{r:02d}",
                "site": "",
                "experience": "",
                "answered": cases + repeats,
                "total": cases + repeats,
            }
            for r in range(readers)
        ],
    )
    return table, info
