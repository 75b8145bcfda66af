"""Storing a study in a test the way a poll does: through ``Store.save_record``, the study's
JSON form standing in for the raw payload a source would have returned."""

from __future__ import annotations

import json

from watcher.db import Store
from watcher.models import Study


def store_study(store: Store, study: Study, now: str) -> tuple[int, bool]:
    """Save *study* as the record of its source (keyed by its PMID or NCT id, else its first id,
    else its title); returns (study id, whether the study is new)."""
    scheme = {"pubmed": "pmid", "clinicaltrials": "nct"}.get(study.source)
    source_id = study.ids.get(scheme or "") or next(iter(study.ids.values()), study.title)
    saved = store.save_record(study.source, source_id, json.dumps(study.to_dict()), study, now)
    assert saved.study_id is not None
    return saved.study_id, saved.new_study
