"""Small inputs for the generator evaluation: an index folder and a 10-s tiny model."""

import csv
from pathlib import Path


def small_index_folder(source: Path, target: Path) -> Path:
    """An index.csv folder of 6 AF and 6 SR train records and 3 + 3 test ones,
    linking to the record files of ``source`` (the shared ECG folder)."""
    target.mkdir(parents=True)
    with (source / "index.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    chosen, counts = [], {}
    for row in rows:
        key = (row["split"], row["rhythm"])
        limit = 6 if row["split"] == "train" else 3
        wanted = row["rhythm"] in ("AF", "SR") and row["split"] in ("train", "test")
        if wanted and counts.get(key, 0) < limit:
            counts[key] = counts.get(key, 0) + 1
            chosen.append(row)
    with (target / "index.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(chosen)
    for folder in {row["path"].split("/")[0] for row in chosen}:
        (target / folder).symlink_to(source / folder)
    return target


def write_tiny_10s_checkpoint(path: Path) -> Path:
    """An untrained tiny model that makes 10-s ECGs, as the evaluation compares."""
    import torch

    from generator.model import SSSD
    from tests.generator.conftest import save_tiny_checkpoint, tiny_config

    torch.manual_seed(0)
    return save_tiny_checkpoint(SSSD(tiny_config(length=1000)), path, step=1)
