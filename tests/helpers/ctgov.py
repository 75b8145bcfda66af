"""ClinicalTrials.gov test data: real v2 records relabelled as ketamine trials
(the fixtures hold none)."""

from __future__ import annotations

from tests.helpers import FIXTURES
from watcher.fakes.ctgov import renumbered, studies_in

AACT = FIXTURES / "ctgov_aact"


def study(path, index: int = 0) -> dict:
    return studies_in(path)[index]


def ketamine_trial(nct: str, *, base=AACT / "NCT03630471.json", condition="Depression",
                   drug="Ketamine", status: str | None = None) -> dict:
    """A real v2 record relabelled as a ketamine trial (the fixtures hold none)."""
    data = renumbered(study(base), nct, title=f"{drug} trial {nct}")
    protocol = data["protocolSection"]
    protocol["conditionsModule"] = {"conditions": [condition]}
    protocol["armsInterventionsModule"] = {"interventions": [{"type": "DRUG", "name": drug}]}
    data.pop("derivedSection", None)
    if status:
        protocol["statusModule"]["overallStatus"] = status
    return data
