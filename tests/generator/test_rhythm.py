"""Beat timing: detection, the timing channels, the rhythm prior, and a model that
takes them."""

import json

import numpy as np
import pytest
import torch

from generator.api import beat_timing, generate
from generator.checkpoint import export_checkpoint, load_checkpoint
from generator.data import load_signals, split_records
from generator.model import SSSD
from generator.rhythm import (
    MAX_GAP_S,
    POOLED,
    RhythmPrior,
    clean_rr,
    detect_r_peaks,
    group_for,
    timing_channels,
)
from generator.train import NEW_LR_SCALE, add_inputs
from generator.train import main as train_main

from .conftest import tiny_config
from .test_train import write_index_folder


def beats_at(peaks, length: int, fs: int = 100) -> np.ndarray:
    """A lead of narrow QRS-like spikes at ``peaks`` and small T-like humps after."""
    t = np.arange(length)
    lead = np.zeros(length)
    for p in peaks:
        lead += np.exp(-((t - p) ** 2) / (2 * (0.012 * fs) ** 2))
        lead += 0.2 * np.exp(-((t - p - 0.3 * fs) ** 2) / (2 * (0.05 * fs) ** 2))
    return lead


def test_r_peaks_are_found_where_the_beats_are():
    truth = np.array([40, 125, 215, 300, 392, 480, 570, 655, 745, 830, 920])
    found = detect_r_peaks(beats_at(truth, 1000), 100)
    assert len(found) == len(truth)
    assert np.abs(found - truth).max() <= 1


def test_timing_channels_count_seconds_since_and_until_a_beat():
    timing = timing_channels(np.array([50, 150, 250]), 300, 100)
    assert timing.shape == (2, 300) and timing.dtype == np.float32
    since, until = timing
    assert since[100] == pytest.approx(0.5) and until[100] == pytest.approx(0.5)
    assert since[150] == 0 and until[149] == pytest.approx(0.01)
    # beyond the first and last beat, beats continue at the neighbouring interval
    assert since[0] == pytest.approx(0.5) and until[0] == pytest.approx(0.5)
    assert since[260] == pytest.approx(0.1) and until[260] == pytest.approx(0.9)
    long_pause = timing_channels(np.array([0, 400]), 800, 100)
    assert long_pause.max() == pytest.approx(MAX_GAP_S)
    with pytest.raises(ValueError, match="at least 2 R peaks"):
        timing_channels(np.array([10]), 300, 100)


def test_a_stretched_window_slows_the_beats_and_tells_their_new_times():
    from generator.data import stretched_window

    truth = np.arange(30, 1000, 100)  # 60 bpm
    lead = beats_at(truth, 1000).astype(np.float32)
    signal = np.stack([lead, 0.5 * lead])
    timing = timing_channels(truth, 1000, 100)
    same, told = stretched_window(signal, timing, 0, 1.0, 1000)
    assert np.array_equal(same, signal) and np.allclose(told, timing)

    window, told = stretched_window(signal, timing, 12.5, 1.08, 900)
    before = detect_r_peaks(lead, 100)  # (not the beat at the very edge)
    expected = (before - 12.5) * 1.08  # 8% slower, from sample 12.5
    found = detect_r_peaks(window[0], 100)
    assert np.abs(found - expected[expected < 900]).max() <= 1
    assert np.diff(found).mean() == pytest.approx(108, abs=1)
    # the QRS keeps its height between samples, and the timing is the beats'
    assert window[0].max() == pytest.approx(lead.max(), rel=0.03)
    inner = slice(150, 750)  # away from the extrapolated beats at the edges
    recomputed = timing_channels(found, 900, 100)
    assert np.abs(told[:, inner] - recomputed[:, inner]).max() <= 0.015
    with pytest.raises(ValueError, match="at least 1"):
        stretched_window(signal, timing, 0, 0.9, 900)
    with pytest.raises(ValueError, match="ends past the record"):
        stretched_window(signal, timing, 50, 1.01, 1000)


def test_a_diastole_stretched_window_slows_the_rate_but_keeps_each_beat():
    """Slowed 20%, the beats are 20% further apart and the T wave stays where it
    was after its R peak; the timing channels tell the new beats."""
    from generator.data import diastole_stretched_window

    truth = np.arange(30, 1000, 80)  # 75 bpm
    lead = beats_at(truth, 1000).astype(np.float32)
    signal = np.stack([lead, 0.5 * lead])
    same, told = diastole_stretched_window(signal, truth, 0, 1.0, 1000)
    assert np.allclose(same, signal, atol=1e-5)
    assert np.allclose(told, timing_channels(truth, 1000, 100), atol=1e-5)

    for start in (0.0, 0.37, 1.0):
        window, told = diastole_stretched_window(signal, truth, start, 1.2, 1000)
        found = detect_r_peaks(window[0], 100)
        assert np.abs(np.diff(found) - 96).max() <= 1  # 80 samples, 20% longer
        # each QRS is the record's own samples, not read between them
        qrs = np.stack([window[0, p - 3 : p + 4] for p in found[1:-1]])
        assert np.allclose(qrs, lead[truth[5] - 3 : truth[5] + 4], atol=1e-6)
        # the T wave 0.3 s after each R peak, as before (not 0.36 s)
        t_wave = [p + 30 for p in found[:-1]]
        assert np.all(window[0, t_wave] > 0.19)
        assert np.all(window[0, [p + 36 for p in found[:-1]]] < 0.15)
        told_beats = np.flatnonzero(np.diff(told[0]) < 0) + 1
        inner = told_beats[(told_beats >= found[0] - 1) & (told_beats <= found[-1] + 1)]
        assert len(inner) == len(found) and np.abs(inner - found).max() <= 1
        assert np.median(np.abs(told - timing_channels(found, 1000, 100))) < 0.01
    with pytest.raises(ValueError, match="at least 1"):
        diastole_stretched_window(signal, truth, 0, 0.9, 1000)
    with pytest.raises(ValueError, match="shorter than"):
        diastole_stretched_window(signal, truth, 0, 1.1, 1200)


def test_stretching_never_gives_a_record_the_same_beat_times_twice():
    """The sampler's windows of one record: without stretching they repeat the
    record's beat times; with it, every draw tells new ones."""
    from generator.data import BatchSampler, SignalSet

    truth = np.arange(30, 1000, 97)
    lead = beats_at(truth, 1000).astype(np.float32)
    data = SignalSet(
        signals=[np.stack([lead] * 8)],
        labels=np.ones((1, 1), np.float32),
        rhythms=["SR"],
        skipped=0,
        timing=[timing_channels(truth, 1000, 100)],
    )
    generator = torch.Generator().manual_seed(0)
    plain = BatchSampler(data, 1000, amplitude_jitter=0).sample(6, generator)[2]
    assert all(torch.equal(t, plain[0]) for t in plain)
    sampler = BatchSampler(data, 1000, amplitude_jitter=0, time_stretch=0.08)
    x, _, timing = sampler.sample(6, generator)
    assert x.shape == (6, 8, 1000) and timing.shape == (6, 2, 1000)
    first_beats = [float(np.flatnonzero(np.diff(t[0].numpy()) < 0)[0]) for t in timing]
    intervals = [np.diff(detect_r_peaks(w[0].numpy(), 100)).mean() for w in x]
    assert len(set(first_beats)) == 6  # a new phase each time
    assert all(97 - 1 <= rr <= 97 * 1.08 + 1 for rr in intervals)
    assert np.ptp(intervals) > 1  # and a new rate
    with pytest.raises(ValueError, match="time_stretch"):
        BatchSampler(data, 1000, time_stretch=0.6)

    data.peaks = [truth]
    sampler = BatchSampler(data, 1000, amplitude_jitter=0, diastole_stretch=0.3)
    x, _, timing = sampler.sample(6, generator)
    intervals = [np.diff(detect_r_peaks(w[0].numpy(), 100)).mean() for w in x]
    assert all(97 - 1 <= rr <= 97 * 1.3 + 1 for rr in intervals)
    assert np.ptp(intervals) > 3
    with pytest.raises(ValueError, match="exclude each other"):
        BatchSampler(data, 1000, time_stretch=0.1, diastole_stretch=0.1)
    data.peaks = None
    with pytest.raises(ValueError, match="needs the records' beats"):
        BatchSampler(data, 1000, diastole_stretch=0.1)


def test_regular_rhythms_drop_intervals_far_from_the_median():
    peaks = np.array([0, 80, 160, 200, 280, 360, 440])  # 200: a doubled detection
    assert np.allclose(clean_rr(peaks, 100, regular=True), [0.8] * 5)
    assert len(clean_rr(peaks, 100)) == 6  # kept where the rhythm may be irregular
    assert len(clean_rr(np.array([0, 10, 90]), 100)) == 1  # 0.1 s is no RR interval


def _training_rhythms(rng) -> tuple[list, list]:
    """RR sequences of 8 SR records (regular, 60-90 bpm) and 6 AF records."""
    rr, labels = [], []
    for k in range(8):
        mean = 0.65 + 0.05 * k
        rr.append((mean * (1 + 0.02 * rng.standard_normal(12))).tolist())
        labels.append(["SR", "NORM"] if k % 2 else ["SR"])
    for _ in range(6):
        rr.append(rng.uniform(0.4, 1.1, 14).tolist())
        labels.append(["AF"])
    return rr, labels


def test_the_prior_keeps_a_regular_rhythm_regular_and_af_irregular():
    rng = np.random.default_rng(0)
    prior = RhythmPrior.fit(*_training_rhythms(rng))
    assert set(prior.groups) == {"SR", "AF", POOLED}
    sr_cv, af_cv, rates = [], [], []
    for _ in range(40):
        sr = prior.draw(["SR", "NORM"], 1000, 100, rng)
        assert sr[0] >= 0 and sr[-1] >= 1000  # beats cover the whole ECG
        rr = np.diff(sr)
        sr_cv.append(rr.std() / rr.mean())
        rates.append(6000 / rr.mean())
        af = np.diff(prior.draw(["AF"], 1000, 100, rng))
        af_cv.append(af.std() / af.mean())
    assert np.median(sr_cv) < 0.04 and np.median(af_cv) > 0.15
    assert 55 < np.median(rates) < 95 and np.std(rates) > 3  # rates differ
    # a rhythm without a group of its own: the sinus group, else the pooled one
    assert group_for(prior.groups, ["SB"]) == "SR"
    assert group_for(prior.groups, ["AFL"]) == POOLED
    again = np.random.default_rng(5)
    assert np.array_equal(
        prior.draw(["AF"], 1000, 100, np.random.default_rng(5)),
        prior.draw(["AF"], 1000, 100, again),
    )
    assert RhythmPrior.from_dict(prior.to_dict()) == prior
    with pytest.raises(ValueError, match="at least one record"):
        RhythmPrior.fit([], [])


def test_the_prior_keeps_no_record_and_replays_no_sequence():
    rng = np.random.default_rng(1)
    rr, labels = _training_rhythms(rng)
    prior = RhythmPrior.fit(rr, labels)
    stored = json.dumps(prior.to_dict())
    for sequence in rr:  # no interval of any record is stored
        assert all(f"{value!r}"[:8] not in stored for value in sequence[:3])
    # no per-record arrays: a fixed, small summary per rhythm
    assert all(len(group) == 7 for group in prior.to_dict()["groups"].values())
    # drawn sequences are new: none matches a training record's intervals
    for _ in range(20):
        drawn = np.diff(prior.draw(["SR"], 1000, 100, rng)) / 100
        for sequence in rr[:8]:
            k = min(len(drawn), len(sequence))
            assert np.abs(drawn[:k] - np.asarray(sequence[:k])).max() > 0.01


def test_a_prior_stored_the_old_way_is_fitted_when_loaded():
    rng = np.random.default_rng(2)
    rr, labels = _training_rhythms(rng)
    old = {"rr": rr, "labels": labels}
    assert RhythmPrior.from_dict(old) == RhythmPrior.fit(rr, labels)


def test_a_timing_model_needs_timing_and_a_plain_one_refuses_it():
    plain, timed = SSSD(tiny_config()), SSSD(tiny_config(timing_channels=2))
    x, t, y = torch.randn(2, 8, 200), torch.zeros(2).long(), torch.zeros(2, 3)
    timing = torch.rand(2, 2, 200)
    assert timed(x, t, y, timing=timing).shape == (2, 8, 200)
    with pytest.raises(ValueError, match=r"timing must be \(2, 2, 200\)"):
        timed(x, t, y)
    with pytest.raises(ValueError, match="no timing"):
        plain(x, t, y, timing=timing)
    with pytest.raises(ValueError, match="timing_channels must be 0 or 2"):
        tiny_config(timing_channels=1)


def test_adding_the_timing_input_leaves_the_network_unchanged():
    torch.manual_seed(0)
    plain = SSSD(tiny_config())
    torch.nn.init.normal_(plain.out_conv.weight, std=0.2)
    timed = SSSD(tiny_config(timing_channels=2))
    timed.load_state_dict(add_inputs(plain.state_dict(), timed.cfg))
    x, t, y = torch.randn(3, 8, 200), torch.tensor([0, 50, 99]), torch.eye(3)
    with torch.no_grad():
        expected = plain(x, t, y)
        got = timed(x, t, y, timing=torch.rand(3, 2, 200))
    assert torch.allclose(expected, got, atol=1e-6)


def test_timing_training_stores_a_prior_and_generation_draws_from_it(tmp_path):
    data = tmp_path / "data"
    write_index_folder(data, ["train", "train", "train", "val"])
    train_set = load_signals(split_records(data)[0], ["SR", "AF", "NORM"], timing=True)
    shapes = [(2, s.shape[1]) for s in train_set.signals]
    assert [t.shape for t in train_set.timing] == shapes
    assert all(np.allclose(rr, 0.8, atol=0.02) for rr in train_set.rr)

    out = tmp_path / "run"
    args = ["--data", str(data), "--out", str(out), "--preset", "tiny"]
    train_main(args + ["--batch-size", "4", "--max-steps", "2", "--timing"])
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt.model_config.timing_channels == 2
    prior = ckpt.rhythm_prior()
    assert prior == train_set.rhythm_prior()
    assert np.exp(prior.groups[POOLED].log_rr_mean) == pytest.approx(0.8, abs=0.02)

    small = export_checkpoint(out / "last.pt", tmp_path / "small.pt")
    assert load_checkpoint(small).rhythm == ckpt.rhythm
    first, _ = generate(small, ["SR"], n=3, seed=1, steps=3, device="cpu")
    again, _ = generate(small, ["SR"], n=3, seed=1, steps=3, device="cpu")
    other, _ = generate(small, ["SR"], n=3, seed=2, steps=3, device="cpu")
    assert np.array_equal(first, again) and not np.allclose(first, other)
    timing = beat_timing(ckpt, ["SR"], seed=1, n=3).numpy()
    assert timing.shape == (3, 2, 200)
    beats = [np.flatnonzero(np.diff(row[0]) < 0) for row in timing]  # since resets
    assert all(np.allclose(np.diff(b), np.diff(b).mean(), atol=1.5) for b in beats)


def test_a_plain_checkpoint_continues_as_a_timing_model(tmp_path):
    data = tmp_path / "data"
    write_index_folder(data, ["train", "train", "train", "val"])
    common = ["--data", str(data), "--preset", "tiny", "--batch-size", "4"]
    train_main(common + ["--out", str(tmp_path / "plain"), "--max-steps", "2"])
    plain = tmp_path / "plain" / "last.pt"
    extended = ["--out", str(tmp_path / "timed"), "--max-steps", "4", "--timing"]
    train_main(common + extended + ["--init-from", str(plain)])
    timed = load_checkpoint(tmp_path / "timed" / "last.pt")
    assert timed.step == 4 and timed.model_config.timing_channels == 2
    assert timed.rhythm is not None
    # the new timing weights learn faster than the trained ones, also on resume
    new = timed.extra["new_parameters"]
    assert new and all(".timing_conv." in name for name in new)
    scales = [g["lr_scale"] for g in timed.extra["optimizer"]["param_groups"]]
    assert sorted(set(scales)) == [1.0, NEW_LR_SCALE]
    train_main(common + extended[:2] + ["--max-steps", "5", "--resume"])
    assert load_checkpoint(tmp_path / "timed" / "last.pt").step == 5


def test_sampling_reuses_the_timing_terms_until_the_weights_change():
    torch.manual_seed(0)
    model = SSSD(tiny_config(timing_channels=2)).eval()
    for block in model.blocks:
        torch.nn.init.normal_(block.timing_conv.weight)
    timing = torch.rand(2, 2, 200)
    with torch.no_grad():
        first = model.block_timing(timing)
        assert model.block_timing(timing) is first  # one sampling run: computed once
        assert model.block_timing(timing.clone()) is not first
        model.blocks[0].timing_conv.weight.mul_(2)  # e.g. an EMA update
        again = model.block_timing(timing)
    assert torch.allclose(
        again[0], 2 * first[0] - model.blocks[0].timing_conv.bias[:, None], atol=1e-5
    )
    assert torch.equal(again[1], first[1])
    with torch.enable_grad():
        assert model.block_timing(timing) is not model.block_timing(timing)
