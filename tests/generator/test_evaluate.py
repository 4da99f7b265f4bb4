"""The generator evaluation on real ECGs, with generators whose faults are known."""

import json

import numpy as np
import pytest

from generator import evaluate as ev
from generator.similarity import aligned_pair
from tests.evaluation_data import small_index_folder, write_tiny_10s_checkpoint

pytestmark = pytest.mark.data


def _pick(ecgs: ev.EcgSet, rhythm: str, start: int, count: int) -> np.ndarray:
    index = [i for i, r in enumerate(ecgs.rhythms) if r == rhythm][
        start : start + count
    ]
    mask = np.zeros(len(ecgs), bool)
    mask[index] = True
    return mask


@pytest.fixture(scope="module")
def real(ecg_data_dir):
    """Two disjoint halves of the real train split, each with AF and SR ECGs:
    one plays the training set, the other the held-out set of the evaluation."""
    ecgs = ev.load_split(ecg_data_dir, "train")
    first = _pick(ecgs, "AF", 0, 9) | _pick(ecgs, "SR", 0, 25) | _pick(ecgs, "SB", 0, 6)
    second = _pick(ecgs, "AF", 9, 9) | _pick(ecgs, "SR", 25, 25)
    train, held_out = ecgs.subset(first), ecgs.subset(second)
    return (
        train,
        ev.feature_table(train),
        held_out,
        ev.feature_table(held_out),
    )


def copying_synthesizer(train: ev.EcgSet):
    """A "generator" that hands back training records of the asked rhythm."""

    def synthesize(labels, n, seed):
        rhythm = next(label for label in labels if label != "NORM")
        pool = [i for i, r in enumerate(train.rhythms) if r == rhythm]
        pick = np.random.default_rng(seed).choice(pool, n)
        return train.signals[pick]

    return synthesize


def noise_synthesizer(labels, n, seed):
    rng = np.random.default_rng(seed)
    return (0.15 * rng.standard_normal((n, 12, 1000))).astype(np.float32)


def run(real, synthesize):
    train, train_f, held_out, held_out_f = real
    synthetic = ev.synthetic_set(synthesize, [["SR", "NORM"], ["SR"], ["AF"]], 12, 3)
    results, _ = ev.evaluate(train, held_out, synthetic, n_boot=100)
    return results


@pytest.fixture(scope="module")
def copy_results(real):
    return run(real, copying_synthesizer(real[0]))


@pytest.fixture(scope="module")
def noise_results(real):
    return run(real, noise_synthesizer)


def test_a_generator_that_copies_training_records_is_flagged(copy_results):
    memo = copy_results["memorisation"]
    assert len(memo["flagged"]) == 36  # every one of them
    assert memo["closest_pair"]["distance"] == pytest.approx(0, abs=1e-6)
    assert memo["threshold"] > 0.05  # distinct real records are never that close


def _patients(first_seed: int, n: int) -> np.ndarray:
    """ECGs of n different patients: each its own rate and its own waves per lead."""
    out = []
    t = np.arange(1000) / 100
    for k in range(n):
        rng = np.random.default_rng(first_seed + k)
        rr = rng.uniform(0.6, 1.2)
        phase = np.mod(t + rng.uniform(0, rr), rr)
        waves = np.stack(
            [
                np.exp(-0.5 * ((phase - centre) / width) ** 2)
                for centre, width in ((0.1, 0.025), (0.25, 0.012), (0.5, 0.04))
            ]
        )  # P, QRS, T: (3, 1000)
        mix = rng.normal(0, 1, (12, 3)) * [0.15, 1.0, 0.3]
        out.append(mix @ waves + rng.normal(0, 0.01, (12, 1000)))
    return np.stack(out).astype(np.float32)


def _set(signals: np.ndarray, prefix: str) -> ev.EcgSet:
    n = len(signals)
    return ev.EcgSet(
        signals, ["SR"] * n, [None] * n, [f"{prefix}{i}" for i in range(n)]
    )


def test_a_shifted_rescaled_noisy_copy_of_a_patient_is_flagged():
    """The case a rhythm prior replaying a patient's beats produced: the patient's
    ECG, 90 ms later, at 70% of the voltage, under noise."""
    train, unseen = _patients(0, 6), _patients(100, 12)
    rng = np.random.default_rng(7)
    copy = 0.7 * np.roll(train[2], 9, axis=1)
    copy = copy + rng.normal(0, 0.05, copy.shape).astype(np.float32)
    stranger = _patients(200, 1)[0]
    memo = ev.memorisation(
        _set(np.stack([copy, stranger]), "s"), _set(train, "t"), _set(unseen, "u")
    )
    assert [(f["synthetic"], f["train"]) for f in memo["flagged"]] == [("s0", "t2")]
    assert memo["closest_pair"]["train"] == "t2"
    assert memo["closest_pair"]["shift_s"] == pytest.approx(-0.09)
    assert len(memo["closest_pairs"]) == 2


def test_a_pair_is_drawn_as_the_audit_compares_it():
    """Each lead z-scored and the training ECG at the best shift, so a copy lies
    on its original (a z-scored shape record beside millivolts would not)."""
    patient = _patients(0, 1)[0]
    copy = 0.3 * np.roll(patient, -25, axis=1) + 0.2
    a, b, lag, similarity = aligned_pair(copy, patient, 100)
    assert lag == 25 and similarity > 0.99
    assert np.isnan(b[:, -25:]).all() and not np.isnan(b[:, :-25]).any()
    inner = slice(0, 1000 - 25)
    # the roll's wrapped-around 25 samples differ; the rest coincide
    assert np.corrcoef(a[:, inner].ravel(), b[:, inner].ravel())[0, 1] > 0.98
    assert np.allclose(a.mean(axis=1), 0) and np.allclose(a.std(axis=1), 1)


def test_a_recording_filed_twice_does_not_blind_the_memorisation_check():
    train, unseen = _patients(0, 4), _patients(100, 4)
    unseen[0] = train[1]  # an unseen record that is a training one, filed twice
    memo = ev.memorisation(
        _set(train[2:3] * 1.1, "copy-of-t"), _set(train, "t"), _set(unseen, "u")
    )
    assert memo["unseen_duplicates"] == 1
    assert memo["threshold"] > 0.1  # set by distinct patients, not the duplicate
    assert [f["train"] for f in memo["flagged"]] == ["t2"]


def test_noise_is_told_from_real_ecgs_and_is_useless_for_training(noise_results):
    assert noise_results["two_sample"]["auc"] > 0.95
    assert noise_results["memorisation"]["flagged"] == []
    af = noise_results["utility"]["af_vs_sr"]
    assert af["TRTR"]["auroc"] > 0.8  # real data teach the task
    assert abs(af["TSTR"]["auroc"] - 0.5) < 0.3  # noise does not
    assert af["TSTR"]["n_test_positive"] == 9


def test_copies_carry_the_real_signal(copy_results):
    af = copy_results["utility"]["af_vs_sr"]
    assert af["TSTR"]["auroc"] > 0.75
    consistency = copy_results["label_consistency"]
    assert consistency["AF"]["synthetic_agreement"] > 0.7


def test_every_figure_computes_and_is_json(copy_results):
    for key in ("fidelity", "label_consistency", "memorisation", "utility"):
        assert copy_results[key]
    sr = copy_results["fidelity"]["SR"]
    assert sr["features"]["heart_rate_bpm"]["real"]["median"] == pytest.approx(
        70, abs=25
    )
    assert sr["features"]["qrs_ms"]["wasserstein"] is not None
    assert set(sr["spectrum_distance"]["per_lead"]) == set(ev.LEADS)
    json.dumps(copy_results)
    assert set(copy_results["summary"]) >= {"two_sample_auc", "memorised", "n_af_test"}


def test_delineation_measures_qrs_like_the_ludb_cardiologists(ecg_data_dir):
    """LUDB's experts marked QRS onsets and offsets in lead II; the delineation's
    median QRS duration should be within 30 ms of theirs on most records."""
    import wfdb

    from generator.ecg import canonicalize, read_wfdb

    errors = []
    for record in range(1, 11):
        path = ecg_data_dir / "ludb" / "records" / str(record)
        annotation = wfdb.rdann(
            str(ecg_data_dir / "ludb" / "annotations" / str(record)), "ii"
        )
        symbols, samples = annotation.symbol, annotation.sample
        durations = [
            (samples[i + 1] - samples[i - 1]) * 2  # 500 Hz samples -> ms
            for i, symbol in enumerate(symbols)
            if symbol == "N" and 0 < i < len(symbols) - 1
        ]
        raw = read_wfdb(path)
        measured = ev.ecg_features(canonicalize(raw.signal, raw.fs, record=raw.record))
        errors.append(abs(float(measured["qrs_ms"]) - float(np.median(durations))))
    assert np.median(errors) < 30


def test_qrs_beat_variation_is_zero_for_repeated_beats_and_known_for_alternating():
    fs, period = 100, 85
    t = np.arange(-40, 40)
    qrs = np.exp(-0.5 * (t / 2.0) ** 2) - np.exp(-0.5 * ((t - 4) / 2.0) ** 2) * 0.4
    beats = np.arange(40, 1000 - 40, period)  # 11 beats
    repeated = np.zeros((12, 1000))
    for b in beats:
        repeated[:, b - 40 : b + 40] += qrs
    assert ev.qrs_beat_variation(repeated, beats, fs) == pytest.approx(0, abs=1e-9)

    # every other beat 1.5 times as tall: the median beat is the 1x one (6 of
    # 11), and the other 5 are off by half of it
    alternating = repeated.copy()
    for b in beats[1::2]:
        alternating[:, b - 40 : b + 40] *= 1.5
    window = qrs[40 - 8 : 40 + 10]
    expected = np.sqrt(5 / 11 * 0.5**2 * (window**2).mean()) / window.std()
    found = ev.qrs_beat_variation(alternating, beats, fs)
    assert found == pytest.approx(expected, rel=1e-6)
    assert np.isnan(ev.qrs_beat_variation(repeated, beats[:2], fs))


def test_qrs_beat_variation_is_measured_on_every_ecg_and_kept_out_of_rhythm():
    from tests.signals import synthetic_ecg

    steady = synthetic_ecg(100, seed=1).astype(np.float64)
    rng = np.random.default_rng(0)
    jittered = steady.copy()
    for start in range(0, 1000, 10):  # every 100 ms its own gain: beats differ
        jittered[:, start : start + 10] *= rng.uniform(0.5, 1.5)
    calm = float(ev.ecg_features(steady)["qrs_beat_variation"])
    restless = float(ev.ecg_features(jittered)["qrs_beat_variation"])
    assert calm < 0.1 < 2 * calm < restless
    both = ev.EcgSet(np.stack([steady, jittered]), ["SR"] * 2, [None] * 2, ["a", "b"])
    table = ev.feature_table(both)
    assert "qrs_beat_variation" in table.names
    # the rhythm detector reads rhythm: one column fewer than the scalars + II/V1
    assert table.rhythm().shape[1] == len(ev.SCALAR_FEATURES) - 1 + 2 * len(
        ev.PSD_BANDS_HZ
    )


@pytest.fixture
def tiny_10s_checkpoint(tmp_path):
    return write_tiny_10s_checkpoint(tmp_path / "tiny-10s.pt")


def test_the_command_line_writes_results_plots_and_summary(
    ecg_data_dir, tiny_10s_checkpoint, tmp_path
):
    from tests.generator.test_train import write_shape_folder

    data = small_index_folder(ecg_data_dir, tmp_path / "data")
    shape = tmp_path / "ptbxl-shape"
    write_shape_folder(shape, ["train", "train", "test"])
    out = tmp_path / "out"
    ev.main(
        [
            "--checkpoint", str(tiny_10s_checkpoint),
            "--data", str(data),
            "--learnt-from", str(shape),
            "--labels", "SR,AF",
            "--n-per-label", "4",
            "--steps", "2",
            "--bootstrap", "20",
            "--device", "cpu",
            "--out", str(out),
        ]
    )  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert results["counts"] == results["counts"] | {
        "train": 12,
        "test": 6,
        "synthetic": 8,
    }
    assert results["parameters"]["label_sets"] == ["SR", "AF"]
    # the audit also looked for copies of the two shape-data patients
    assert results["parameters"]["learnt_from"] == [str(shape)]
    assert results["parameters"]["n_learnt"] == 12 + 2
    with pytest.raises(SystemExit):
        ev.main(
            ["--checkpoint", str(tiny_10s_checkpoint), "--data", str(data)]
            + ["--learnt-from", str(tmp_path / "missing"), "--out", str(out)]
        )
    for name in ("features.png", "spectra.png", "memorisation.png", "closest_pair.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    summary = (out / "summary.html").read_text()
    assert "Two-sample AUC" in summary
    by_rhythm = results["amplitude"]["by_rhythm"]
    assert set(by_rhythm) <= {"SR", "AF"}
    for rhythm, v in by_rhythm.items():
        assert f"ratio, {rhythm} only ({v['n_synthetic']} synthetic" in summary
    assert "real train / test" in summary
    # real recordings repeat their QRS: a low figure, and the page says it
    assert 0 <= results["qrs_beat_variation"]["real"] < 0.3
    assert results["summary"]["qrs_beat_variation"] >= 0
    assert "QRS change from beat to beat" in summary
    with np.load(out / "closest_pair.npz") as pair:
        assert pair["synthetic"].shape == pair["train"].shape == (12, 1000)


def test_bad_requests_are_refused_with_the_reason(
    ecg_data_dir, tiny_checkpoint, tmp_path
):
    with pytest.raises(ValueError, match="unknown label"):
        ev.evaluate_checkpoint(tiny_checkpoint, ecg_data_dir, label_sets=[["MI"]])
    with pytest.raises(ValueError, match="train is what the model saw"):
        ev.evaluate_checkpoint(tiny_checkpoint, ecg_data_dir, split="train")
    with pytest.raises(ValueError, match="use e.g."):
        ev.parse_label_sets("SR,,AF")
    short = ev.synthetic_set(noise_synthesizer, [["SR"]], 2, 0)
    short.signals = short.signals[..., :200]
    real = ev.load_split(ecg_data_dir, "val", limit=2)
    with pytest.raises(ValueError, match="differ in length"):
        ev.evaluate(real, real, short)


def test_another_generators_array_file_is_evaluated_beside_a_checkpoint(
    ecg_data_dir, tiny_10s_checkpoint, tmp_path, capsys
):
    """A "generator" whose array file holds copies of training records, in its own
    lead order and rate, is read with its labels CSV and flagged as copying."""
    from generator.ecg import LEADS

    data = small_index_folder(ecg_data_dir, tmp_path / "data")
    train = ev.load_split(data, "train")
    order = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6", "III", "aVR", "aVL", "aVF"]
    copies = train.signals[:, [LEADS.index(lead) for lead in order]]
    np.savez(tmp_path / "copies.npz", signals=copies)
    labels = tmp_path / "copies.csv"
    labels.write_text(
        "record,rhythm\n" + "".join(f"{i},{r}\n" for i, r in enumerate(train.rhythms))
    )
    out = tmp_path / "out"
    common = ["--data", str(data), "--bootstrap", "20", "--out", str(out)]
    source = ["--source", f"copies={tmp_path / 'copies.npz'}"]
    source += ["--source-leads", ",".join(order)]
    ev.main(
        common + source + ["--source-labels", f"copies={labels}"]
        + ["--checkpoint", str(tiny_10s_checkpoint), "--labels", "SR,AF"]
        + ["--n-per-label", "3", "--steps", "2", "--device", "cpu"]
    )  # fmt: skip
    table = json.loads((out / "side_by_side.json").read_text())
    assert list(table) == ["copies", "tiny-10s.pt"]
    assert table["copies"]["memorised"] == len(train)  # every copy is flagged
    copied = json.loads((out / "copies" / "results.json").read_text())
    assert copied["counts"]["synthetic"] == len(train)
    assert copied["parameters"]["source"].endswith("copies.npz")
    # copies draw exactly the voltages they were taught, rhythm by rhythm
    within = copied["amplitude"]["taught"]["synthetic_vs_train"]["by_rhythm"]
    assert within and all(
        ratio == pytest.approx(1, abs=0.05)  # canonical form twice: filtered twice
        for v in within.values()
        for ratio in v["rms_ratio"].values()
    )
    assert (out / "tiny-10s.pt" / "summary.html").is_file()
    # how often a generator true to train would meet the voltage window here
    assert 0 <= table["copies"]["rms_window_faithful"] <= 1
    page = (out / "copies" / "summary.html").read_text()
    assert "a faithful generator&#x27;s ratio, 95% range" in page
    printed = capsys.readouterr().out
    assert "memorised (flagged copies)" in printed
    assert "a faithful generator in window" in printed

    # Every ECG of a source needs its rhythm; the error names the missing ones.
    labels.write_text("record,rhythm\n0,SR\n")
    with pytest.raises(ValueError, match=r"no row for \d+ of the \d+ ECGs"):
        from generator.compare import load_array_set

        load_array_set(tmp_path / "copies.npz", leads=order, labels_csv=labels)
    with pytest.raises(SystemExit):
        ev.main(common + source)  # a source without its labels
