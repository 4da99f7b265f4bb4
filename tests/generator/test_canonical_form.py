"""The canonical ECG form: lead mapping, units, windowing, resampling, bad input."""

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import wfdb

from generator.ecg import (
    CLIP_MV,
    LEADS,
    EcgError,
    canonical_lead_name,
    canonicalize,
    expand_to_12,
    load_canonical,
    map_leads,
    read_wfdb,
    reduce_to_8,
)
from tests.signals import synthetic_ecg


def write_record(
    folder: Path,
    name: str,
    signal: np.ndarray,
    fs: float,
    leads=LEADS,
    units="mV",
    comments=(),
) -> Path:
    """Write a (n_leads, N) physical signal as a WFDB format-16 record."""
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(
        name,
        fs=fs,
        units=[units] * len(leads),
        sig_name=list(leads),
        p_signal=np.ascontiguousarray(signal.T, dtype=np.float64),
        fmt=["16"] * len(leads),
        adc_gain=[1000.0 if units == "mV" else 1.0] * len(leads),
        baseline=[0] * len(leads),
        comments=list(comments),
        write_dir=str(folder),
    )
    return folder / name


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("AVR", "aVR"),
        ("avr", "aVR"),
        ("aVR", "aVR"),
        ("i", "I"),
        ("V6", "V6"),
        (" lead II ", "II"),
        ("v3", "V3"),
        ("vx", None),
    ],
)
def test_lead_names_map_case_and_alias_insensitively(given, expected):
    assert canonical_lead_name(given) == expected


def test_leads_are_mapped_by_name_not_position():
    rng = np.random.default_rng(0)
    canonical = rng.standard_normal((12, 50))
    order = rng.permutation(12)
    names = [LEADS[i].upper() for i in order]  # shuffled and upper-cased
    mapped = map_leads(canonical[order], names)
    np.testing.assert_allclose(mapped, canonical)


def test_extra_channels_are_ignored_and_missing_limb_leads_derived():
    rng = np.random.default_rng(1)
    full = rng.standard_normal((12, 40))
    lead_i, lead_ii = full[0], full[1]
    names = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6", "vx"]
    rows = [lead_i, lead_ii, *full[6:], rng.standard_normal(40)]
    mapped = map_leads(np.stack(rows), names)
    np.testing.assert_allclose(mapped[2], lead_ii - lead_i)  # Einthoven
    np.testing.assert_allclose(mapped[3], -(lead_i + lead_ii) / 2)
    np.testing.assert_allclose(mapped[6:], full[6:])


def test_missing_precordial_lead_is_an_error_naming_it():
    names = [lead for lead in LEADS if lead != "V4"]
    with pytest.raises(EcgError, match="missing leads V4"):
        map_leads(np.zeros((11, 10)), names, record="rec7")


@pytest.mark.parametrize(("unit", "factor"), [("mV", 1.0), ("uV", 1e-3), ("V", 1e3)])
def test_units_become_millivolts(unit, factor):
    mapped = map_leads(np.ones((12, 5)), list(LEADS), [unit] * 12)
    np.testing.assert_allclose(mapped, factor)


def test_unknown_units_are_an_error():
    with pytest.raises(EcgError, match="unknown units 'mmHg'"):
        map_leads(np.ones((12, 5)), list(LEADS), ["mmHg"] * 12, record="r")


def test_canonical_form_is_float32_12_by_1000_at_100_hz():
    out = canonicalize(synthetic_ecg(fs=500), 500)
    assert out.shape == (12, 1000)
    assert out.dtype == np.float32
    assert np.abs(out).max() <= CLIP_MV


def test_500_and_1000_hz_versions_of_one_ecg_give_the_same_100_hz_signal():
    at_500 = canonicalize(synthetic_ecg(fs=500, seed=3), 500)
    at_1000 = canonicalize(synthetic_ecg(fs=1000, seed=3), 1000)
    # The noise differs between the two draws; the waveform must not.
    assert np.abs(at_500 - at_1000).max() < 0.05
    assert np.corrcoef(at_500.ravel(), at_1000.ravel())[0, 1] > 0.995


def test_real_500_and_1000_hz_records_agree_at_100_hz(ecg_data_dir):
    folder = ecg_data_dir / "ptbdb" / "records"
    at_1000 = load_canonical(folder / "s0010_re_10s_1000hz")
    at_500 = load_canonical(folder / "s0010_re_10s_500hz")
    assert np.abs(at_1000 - at_500).max() < 0.01  # 10 microvolts


def test_baseline_wander_is_removed():
    ecg = synthetic_ecg(fs=500)
    t = np.arange(ecg.shape[1]) / 500
    wandering = ecg + 1.5 * np.sin(2 * np.pi * 0.1 * t)  # 1.5 mV, 0.1 Hz drift
    out = canonicalize(wandering, 500)
    clean = canonicalize(ecg, 500)
    assert np.abs(out - clean)[:, 100:-100].max() < 0.1


def test_window_starts_where_asked():
    ecg = synthetic_ecg(fs=100, seconds=20)
    later = canonicalize(ecg, 100, start_s=5.0)
    assert later.shape == (12, 1000)
    with pytest.raises(EcgError, match="record too short"):
        canonicalize(ecg, 100, start_s=15.0)


def test_short_record_is_rejected_naming_record_and_length():
    with pytest.raises(EcgError, match=r"rec1: record too short: 8.00 s, needs 10 s"):
        canonicalize(synthetic_ecg(fs=500, seconds=8), 500, record="rec1")


def test_flat_lead_is_rejected():
    ecg = synthetic_ecg(fs=500)
    ecg[LEADS.index("V3")] = 0.2
    with pytest.raises(EcgError, match="flat line in lead.*V3"):
        canonicalize(ecg, 500)


def test_run_of_missing_samples_is_rejected_but_a_single_gap_is_bridged():
    ecg = synthetic_ecg(fs=500)
    ecg[1, 1000] = np.nan
    assert np.isfinite(canonicalize(ecg, 500)).all()
    ecg[1, 2000:2100] = np.nan
    with pytest.raises(EcgError, match="lead II has a run of 100 missing samples"):
        canonicalize(ecg, 500)


def test_derivation_from_8_leads_obeys_einthoven_and_goldberger():
    rng = np.random.default_rng(4)
    eight = rng.standard_normal((3, 8, 100)).astype(np.float32)
    full = expand_to_12(eight)
    lead = {name: full[:, k] for k, name in enumerate(LEADS)}
    np.testing.assert_allclose(lead["II"], lead["I"] + lead["III"], atol=1e-6)
    np.testing.assert_allclose(lead["aVF"], (lead["II"] + lead["III"]) / 2, atol=1e-6)
    np.testing.assert_allclose(lead["aVR"], -(lead["I"] + lead["II"]) / 2, atol=1e-6)
    np.testing.assert_allclose(lead["aVL"], (lead["I"] - lead["III"]) / 2, atol=1e-6)
    np.testing.assert_allclose(reduce_to_8(full), eight)


def _goldberger_spread_uv(canonical: np.ndarray) -> float:
    lead = {name: canonical[k].astype(np.float64) for k, name in enumerate(LEADS)}
    return float(np.std(lead["aVR"] + lead["aVL"] + lead["aVF"]) * 1000)


def test_a_recording_and_a_generated_ecg_share_one_lead_construction():
    """aVR + aVL + aVF is zero by construction in both, not only in generated ECGs."""
    recording = synthetic_ecg(500).astype(np.float64)
    # Each stored lead of a recording carries its own quantisation noise.
    rng = np.random.default_rng(8)
    recording += rng.uniform(-0.0025, 0.0025, recording.shape)
    generated = expand_to_12(reduce_to_8(synthetic_ecg(100)))
    spreads = [
        _goldberger_spread_uv(canonicalize(recording, 500)),
        _goldberger_spread_uv(canonicalize(generated, 100)),
    ]
    assert max(spreads) < 0.01  # float32 rounding, far below a sheet's 1 uV step
    assert _goldberger_spread_uv(recording.astype(np.float32)) > 1  # before


def test_wfdb_record_reads_in_any_lead_order_and_units(tmp_path):
    ecg = synthetic_ecg(fs=500, seed=5)
    order = [3, 0, 11, 1, 2, 4, 5, 6, 7, 8, 9, 10]
    names = [LEADS[i].lower() for i in order]
    path = write_record(tmp_path, "rec", ecg[order] * 1000, 500, names, units="uV")
    raw = read_wfdb(path)
    assert raw.fs == 500
    np.testing.assert_allclose(raw.signal, ecg, atol=2e-3)


def test_missing_dat_file_is_an_error(tmp_path):
    path = write_record(tmp_path, "rec", synthetic_ecg(fs=500), 500)
    path.with_suffix(".dat").unlink()
    with pytest.raises(EcgError, match="signal file rec.dat not found"):
        read_wfdb(path)


def test_corrupt_header_is_an_error(tmp_path):
    path = write_record(tmp_path, "rec", synthetic_ecg(fs=500), 500)
    path.with_suffix(".hea").write_text("rec twelve leads\nnonsense\n")
    with pytest.raises(EcgError, match="corrupt header"):
        read_wfdb(path)


def test_missing_header_is_an_error(tmp_path):
    with pytest.raises(EcgError, match="header file nothing.hea not found"):
        read_wfdb(tmp_path / "nothing")


def test_too_few_leads_in_a_file_is_an_error(tmp_path):
    leads = ("I", "II", "V1")
    path = write_record(tmp_path, "rec", synthetic_ecg(fs=500)[:3], 500, leads)
    with pytest.raises(EcgError, match="missing leads V2, V3, V4, V5, V6"):
        read_wfdb(path)


def rewrite_header(path: Path, old: str, new: str) -> None:
    header = path.with_name(path.name + ".hea")
    header.write_text(header.read_text().replace(old, new, 1))


def test_only_the_window_is_read_from_disk(tmp_path, monkeypatch):
    ecg = synthetic_ecg(fs=500, seconds=300, seed=6)
    path = write_record(tmp_path, "long", ecg, 500)
    reads = []
    rdrecord = wfdb.rdrecord

    def spy(*args, **kwargs):
        reads.append(kwargs)
        return rdrecord(*args, **kwargs)

    monkeypatch.setattr(wfdb, "rdrecord", spy)
    tracemalloc.start()
    try:
        out = load_canonical(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(r.get("sampfrom", 0), r.get("sampto")) for r in reads] == [(0, 5000)]
    # The whole record as float64 alone would be 12 * 150000 * 8 = 14.4 MB.
    assert peak < 4_000_000
    whole = read_wfdb(path)
    assert whole.signal.shape == (12, 150000)
    np.testing.assert_array_equal(out, canonicalize(whole.signal, 500, record="x"))


def test_window_later_in_the_record_is_read_from_where_it_starts(tmp_path):
    ecg = synthetic_ecg(fs=500, seconds=30, seed=7)
    path = write_record(tmp_path, "rec", ecg, 500)
    raw = read_wfdb(path, start_s=12.0, duration_s=10.0)
    np.testing.assert_allclose(raw.signal, ecg[:, 6000:11000], atol=1e-3)
    with pytest.raises(
        EcgError, match=r"record too short: 30.00 s, needs 10 s from 25 s"
    ):
        read_wfdb(path, start_s=25.0, duration_s=10.0)


def test_dotted_record_name_is_never_read_as_another_record(tmp_path):
    write_record(tmp_path, "rec", synthetic_ecg(fs=500), 500)
    # rec.v2.hea is a copy of rec's header: it describes rec, not rec.v2.
    (tmp_path / "rec.v2.hea").write_text((tmp_path / "rec.hea").read_text())
    with pytest.raises(EcgError, match="record name 'rec.v2' is not a WFDB record"):
        read_wfdb(tmp_path / "rec.v2")


def test_header_naming_another_record_is_an_error(tmp_path):
    write_record(tmp_path, "rec", synthetic_ecg(fs=500), 500)
    (tmp_path / "rec2.hea").write_text((tmp_path / "rec.hea").read_text())
    with pytest.raises(EcgError, match="header rec2.hea describes record 'rec'"):
        read_wfdb(tmp_path / "rec2")


@pytest.mark.parametrize(
    ("fs", "message"),
    [
        ("nan", "header sampling frequency 'nan' is not a positive finite number"),
        ("-500", "header sampling frequency '-500' is not a positive finite number"),
        ("inf", "header sampling frequency 'inf' is not a positive finite number"),
        ("0", "header sampling frequency '0' is not a positive finite number"),
        ("0.001", "sampling frequency 0.001 Hz is too low: need at least 100 Hz"),
        ("50", "sampling frequency 50 Hz is too low: need at least 100 Hz"),
        ("1e3", "header sampling frequency '1e3' is not a positive finite number"),
        ("100000000", "sampling frequency 1e\\+08 Hz is too high"),
    ],
)
def test_header_sampling_frequency_is_checked_not_defaulted(tmp_path, fs, message):
    path = write_record(tmp_path, "rec", synthetic_ecg(fs=500), 500)
    rewrite_header(path, "rec 12 500 ", f"rec 12 {fs} ")
    with pytest.raises(EcgError, match=message):
        read_wfdb(path)


def test_header_without_sampling_frequency_is_an_error(tmp_path):
    path = write_record(tmp_path, "rec", synthetic_ecg(fs=500), 500)
    header = tmp_path / "rec.hea"
    lines = header.read_text().splitlines()
    header.write_text("\n".join(["rec 12", *lines[1:]]) + "\n")
    with pytest.raises(EcgError, match="header gives no sampling frequency"):
        read_wfdb(path)


def test_pool_rate_sets_the_lowest_rate_read(tmp_path):
    path = write_record(tmp_path, "rec", synthetic_ecg(fs=250), 250)
    assert load_canonical(path, target_fs=250).shape == (12, 2500)
    with pytest.raises(EcgError, match="250 Hz is too low: need at least 500 Hz"):
        load_canonical(path, target_fs=500)


def test_signal_file_linked_out_of_the_dataset_folder_is_an_error(tmp_path):
    outside = write_record(tmp_path / "outside", "rec", synthetic_ecg(fs=500), 500)
    root = tmp_path / "dataset"
    root.mkdir()
    (root / "rec.hea").write_text((outside.parent / "rec.hea").read_text())
    (root / "rec.dat").symlink_to(outside.parent / "rec.dat")
    with pytest.raises(EcgError, match="signal file rec.dat resolves to .*outside"):
        read_wfdb(root / "rec", root=root)
    # A link that stays inside the dataset folder is fine.
    inside = write_record(root / "sub", "rec", synthetic_ecg(fs=500), 500)
    (root / "rec.dat").unlink()
    (root / "rec.dat").symlink_to(inside.parent / "rec.dat")
    assert read_wfdb(root / "rec", root=root).signal.shape == (12, 5000)


def test_header_that_is_a_folder_or_a_link_loop_is_an_error(tmp_path):
    (tmp_path / "x.hea").mkdir()
    with pytest.raises(EcgError, match="header file x.hea is a folder, not a file"):
        read_wfdb(tmp_path / "x")
    (tmp_path / "loop.hea").symlink_to(tmp_path / "loop.hea")
    with pytest.raises(EcgError, match="loop.hea is a broken or looping symbolic"):
        read_wfdb(tmp_path / "loop")


def test_truncated_signal_file_is_an_error(tmp_path):
    path = write_record(tmp_path, "rec", synthetic_ecg(fs=500), 500)
    dat = tmp_path / "rec.dat"
    dat.write_bytes(dat.read_bytes()[: 24 * 3000])  # 3000 of 5000 frames
    with pytest.raises(EcgError, match="rec: unreadable signal"):
        load_canonical(path)


def test_header_without_signal_length_is_read_from_the_file_size(tmp_path):
    ecg = synthetic_ecg(fs=500, seconds=12, seed=8)
    path = write_record(tmp_path, "rec", ecg, 500)
    rewrite_header(path, "rec 12 500 6000", "rec 12 500")
    raw = read_wfdb(path)
    assert raw.signal.shape == (12, 6000)
    np.testing.assert_allclose(raw.signal, ecg, atol=1e-3)
    assert load_canonical(path).shape == (12, 1000)
