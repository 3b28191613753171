"""The model checked against published findings: ``loyaltysim evidence``.

Each finding (:mod:`.findings`) pairs a published figure, its source and a band with a statistic the
model computes from simulated runs (:mod:`.statistics`, from what a replicate records while it runs,
:mod:`.observe`); :mod:`.run` runs the evidence scenarios and summarises each statistic over
replications, and :mod:`.page` writes the validation page. The model is not tuned here: a figure outside
its band is reported as it is.

    >>> from loyaltysim.evidence import run_evidence
    >>> table = run_evidence(quick=True)   # one row per finding: model figure, 95% interval, band
"""

from __future__ import annotations

from loyaltysim.evidence.findings import FINDINGS, SCENARIOS, EvidenceScenario, Finding
from loyaltysim.evidence.run import (
    Evidence, measure_evidence, plan_evidence, run_evidence, summarise_evidence, write_evidence,
)

__all__ = ["FINDINGS", "SCENARIOS", "Evidence", "EvidenceScenario", "Finding", "measure_evidence", "plan_evidence",
           "run_evidence", "summarise_evidence", "write_evidence"]
