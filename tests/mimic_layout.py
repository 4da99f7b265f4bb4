"""A tiny MIMIC-IV-ECG folder: the real layout, synthetic signals."""

import csv
from pathlib import Path

from tests.generator.test_canonical_form import write_record
from tests.signals import synthetic_ecg

# (study_id, heart rate, machine report statements)
MIMIC_STUDIES = (
    ("40689238", 70, ["Sinus rhythm", "Normal ECG"]),
    (
        "40689239",
        110,
        ["Atrial fibrillation with rapid ventricular response", "Abnormal ECG"],
    ),
    ("40689240", 50, ["Sinus bradycardia", "Borderline ECG"]),
)


def build_mimic_folder(root: Path) -> Path:
    """Write record_list.csv, machine_measurements.csv and WFDB files under root."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "record_list.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject_id", "study_id", "file_name", "ecg_time", "path"])
        for k, (study, rate, _) in enumerate(MIMIC_STUDIES):
            subject = f"1000003{k}"
            rel = f"files/p1000/p{subject}/s{study}/{study}"
            write_record(
                root / Path(rel).parent, study, synthetic_ecg(500, heart_rate=rate), 500
            )
            writer.writerow([subject, study, study, "2180-07-23 08:44:00", rel])
    with (root / "machine_measurements.csv").open("w", newline="") as handle:
        columns = ["subject_id", "study_id", "cart_id"] + [
            f"report_{i}" for i in range(18)
        ]
        writer = csv.writer(handle)
        writer.writerow(columns)
        for k, (study, _, reports) in enumerate(MIMIC_STUDIES):
            writer.writerow(
                [f"1000003{k}", study, "6848"] + reports + [""] * (18 - len(reports))
            )
    return root
