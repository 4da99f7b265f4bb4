"""The blinding audit: measured from the bytes readers receive, before launch."""

import hashlib

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.urls import reverse

from ecgstudy.analysis.blinding import case_cues, read_sheet
from ecgstudy.pool.models import Origin, Rhythm
from ecgstudy.pool.render import render_sheet
from ecgstudy.pool.services import signal_to_bytes
from ecgstudy.studies.models import BlindingAudit, CaseQuota, Study
from ecgstudy.studies.services import study_audit_blinding
from generator.ecg import canonicalize
from tests.factories import EcgRecordFactory, SyntheticRecordFactory
from tests.signals import generated, recording

N_PER_ORIGIN = 16


def _record(factory, signal: np.ndarray, *, sheet_suffix: str = "", **fields):
    svg = render_sheet(signal, 100) + sheet_suffix
    payload = signal_to_bytes(signal, 100)
    return factory(
        signal=ContentFile(payload, name="signal.npz"),
        signal_sha256=hashlib.sha256(payload).hexdigest(),
        sheet=ContentFile(svg.encode(), name="sheet.svg"),
        rhythm=Rhythm.SR,
        **fields,
    )


def make_pool(*, real_signals, synthetic_signals, synthetic_sheet_suffix: str = ""):
    for signal in real_signals:
        _record(EcgRecordFactory, signal)
    for signal in synthetic_signals:
        _record(SyntheticRecordFactory, signal, sheet_suffix=synthetic_sheet_suffix)
    study = Study.objects.create(name="Audit study", seed=3)
    for origin in (Origin.REAL, Origin.SYNTHETIC):
        CaseQuota.objects.create(study=study, origin=origin, rhythm=Rhythm.SR, count=4)
    return study


def canonical_pool(**kwargs):
    return make_pool(
        real_signals=[canonicalize(recording(i), 500) for i in range(N_PER_ORIGIN)],
        synthetic_signals=[
            canonicalize(generated(i), 100) for i in range(N_PER_ORIGIN)
        ],
        **kwargs,
    )


def cue(audit: BlindingAudit, name: str) -> dict:
    return next(c for c in audit.result["cues"] if c["name"] == name)


def test_a_sheet_reads_back_as_the_signal_it_draws():
    signal = canonicalize(generated(1), 100)
    traces = read_sheet(render_sheet(signal, 100).encode())
    np.testing.assert_allclose(traces.rhythm, signal[1], atol=0.0006)  # lead II
    np.testing.assert_allclose(traces.leads["V4"], signal[9, 750:], atol=0.0006)
    assert traces.fs == pytest.approx(100)


def test_limb_lead_arithmetic_of_real_and_synthetic_sheets_is_alike():
    """From the sheet, aVR + aVL + aVF spreads alike whatever the origin."""

    def spread(signal):
        svg = render_sheet(signal, 100).encode()
        return case_cues(b"", svg)["goldberger_residual"]

    real = [spread(canonicalize(recording(i), 500)) for i in range(6)]
    synthetic = [spread(canonicalize(generated(i), 100)) for i in range(6)]
    # Only the sheet's own rounding to 1 uV is left in both (about 0.5 uV).
    assert 0.3 < np.median(real) < 0.7 and 0.3 < np.median(synthetic) < 0.7
    assert abs(np.median(real) - np.median(synthetic)) < 0.1
    # Without one construction a recording's sum carries its noise (> 1 uV).
    assert spread(recording(0)[:, ::5].astype(np.float32)) > 1.0


def test_a_clean_pool_passes_and_the_audit_is_stored(db):
    study = canonical_pool()
    audit = study_audit_blinding(study=study)
    assert audit.n_real == audit.n_synthetic == N_PER_ORIGIN
    assert audit.passed, audit.result["warnings"]
    for name in ("page_bytes", "sheet_bytes", "coordinate_chars"):
        assert cue(audit, name)["auc"]["auc"] == 0.5  # identical lengths
    goldberger = cue(audit, "goldberger_residual")["auc"]
    assert goldberger["low"] <= 0.5 <= goldberger["high"]
    assert set(audit.result["classifiers"]) == {"construction", "waveform", "all"}
    assert study.audits.get() == audit


def test_independent_limb_leads_are_caught(db):
    """The old construction: a recording's own limb leads, only resampled."""
    study = make_pool(
        real_signals=[
            recording(i)[:, ::5].astype(np.float32) for i in range(N_PER_ORIGIN)
        ],
        synthetic_signals=[generated(i) for i in range(N_PER_ORIGIN)],
    )
    audit = study_audit_blinding(study=study)
    assert not audit.passed
    assert cue(audit, "goldberger_residual")["auc"]["auc"] < 0.1
    assert any("aVR + aVL + aVF" in warning for warning in audit.result["warnings"])


def test_a_sheet_one_byte_longer_is_caught(db):
    study = canonical_pool(synthetic_sheet_suffix=" ")
    audit = study_audit_blinding(study=study)
    assert not audit.passed
    assert cue(audit, "sheet_bytes")["auc"]["auc"] == 1.0
    assert cue(audit, "page_bytes")["auc"]["auc"] == 1.0
    assert audit.result["classifiers"]["construction"]["auc"] > 0.9
    assert any("length of the sheet" in w for w in audit.result["warnings"])


def test_researchers_run_the_audit_in_the_admin_and_see_it_on_launch(
    researcher_client,
):
    study = canonical_pool(synthetic_sheet_suffix=" ")
    audit_url = reverse("admin:studies_study_audit", args=[study.pk])
    response = researcher_client.post(audit_url, follow=True)
    text = response.content.decode()
    assert response.status_code == 200
    assert "length of the sheet" in text and "Warnings" in text
    assert "› Blinding audit" in text  # the breadcrumb names the page
    assert BlindingAudit.objects.filter(study=study).count() == 1
    launch = researcher_client.get(
        reverse("admin:studies_study_launch", args=[study.pk])
    )
    assert "blinding audit warned" in launch.content.decode()


def test_the_audit_command_prints_every_cue(db, capsys):
    study = canonical_pool()
    call_command("audit_blinding", str(study.pk))
    out = capsys.readouterr().out
    for name in ("length of the case page", "aVR + aVL + aVF", "lead II power"):
        assert name in out
    assert "passed" in out
    assert BlindingAudit.objects.filter(study=study).exists()


def test_the_audit_needs_both_origins(db):
    from django.core.exceptions import ValidationError

    study = make_pool(
        real_signals=[canonicalize(recording(i), 500) for i in range(6)],
        synthetic_signals=[canonicalize(generated(0), 100)],
    )
    with pytest.raises(ValidationError, match="at least 4 real and 4 synthetic"):
        study_audit_blinding(study=study)
    assert not BlindingAudit.objects.exists()


def test_a_pool_imported_before_one_construction_is_rebuilt(db, capsys):
    study = make_pool(
        real_signals=[
            recording(i)[:, ::5].astype(np.float32) for i in range(N_PER_ORIGIN)
        ],
        synthetic_signals=[generated(i) for i in range(N_PER_ORIGIN)],
    )
    assert not study_audit_blinding(study=study).passed
    call_command("render_sheets", "--limb-leads")
    assert f"rebuilt the limb leads of {N_PER_ORIGIN} record(s)" in (
        capsys.readouterr().out
    )
    audit = study_audit_blinding(study=study)
    assert audit.passed, audit.result["warnings"]
