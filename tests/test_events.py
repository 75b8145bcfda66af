"""Typed events: each kind keeps the key and the stored details it always had (stored databases
keep working and nothing is told twice), reads back as itself, and a kind this version does not
know is still shown, never a crash."""

from __future__ import annotations

import json

import pytest

from watcher import digest as digest_module
from watcher.db import Store
from watcher.db.rows import PendingItem
from watcher.events import (
    KINDS,
    Correction,
    NewStudy,
    QueryHealth,
    TrialChanged,
    Unknown,
    from_row,
)
from watcher.models import Match, Study
from watcher.render import email, slack, text

#: (event, its key, the details stored as the version before typed events stored them).
STORED = [
    (NewStudy.of(5), "new", "new:5", {}),
    (TrialChanged.found(source="clinicaltrials", content="a" * 64, study_id=5, query_id="q",
                        what=[("status", "status Recruiting → Completed")]),
     "trial_changed", "change:clinicaltrials:" + "a" * 20,
     {"changes": ["status Recruiting → Completed"], "fields": ["status"], "label": "changed"}),
    (Correction.of(5, "Retraction", "123"), "correction", "correction:5:retraction",
     {"label": "RETRACTED", "what": "retracted", "notice": "123",
      "notice_url": "https://pubmed.ncbi.nlm.nih.gov/123/",
      "changes": ["RETRACTED: notice PMID 123 https://pubmed.ncbi.nlm.nih.gov/123/"]}),
    (Correction.of(5, "Erratum", "124"), "correction", "correction:5:erratum:124",
     {"label": "erratum", "what": "an erratum was published", "notice": "124",
      "notice_url": "https://pubmed.ncbi.nlm.nih.gov/124/",
      "changes": ["an erratum was published: notice PMID 124 "
                  "https://pubmed.ncbi.nlm.nih.gov/124/"]}),
    (QueryHealth.fell_silent("q", "pubmed", 9, "quiet"), "query_health",
     "query_health:silent:q:pubmed:9", {"message": "quiet", "source": "pubmed",
                                        "check": "silent"}),
    (QueryHealth.read_differently("q", "pubmed", 9, "abc", "drift", before="a", after="b"),
     "query_health", "query_health:translation:q:pubmed:9:abc",
     {"message": "drift", "source": "pubmed", "check": "translation", "before": "a",
      "after": "b"}),
    (QueryHealth.failing("q", "pubmed", "2026-11-01", "down"), "query_health",
     "query_health:failing:q:pubmed:2026-11-01", {"message": "down", "source": "pubmed"}),
    (QueryHealth.quarantined("q", "pubmed", "77", "set aside"), "query_health",
     "quarantine:pubmed:77:q", {"message": "set aside", "source": "pubmed", "source_id": "77"}),
    (QueryHealth.config_error("d1g", "bad edit"), "query_health", "config_error:d1g",
     {"message": "bad edit"}),
]


@pytest.mark.parametrize(("event", "kind", "key", "details"), STORED,
                         ids=[key for _, _, key, _ in STORED])
def test_each_kind_stores_what_it_always_stored_and_reads_back_as_itself(
        tmp_path, event, kind, key, details):
    with Store(tmp_path / "w.db") as store, store.transaction():
        event_id, created = store.add_event(event, "t1")
        assert created and store.add_event(event, "t2") == (event_id, False)
        row = dict(zip(("kind", "key", "details"), store.conn.execute(
            "SELECT kind, key, details FROM events WHERE id = ?", (event_id,)).fetchone(),
            strict=True))
        assert (row["kind"], row["key"], json.loads(row["details"])) == (kind, key, details)
        assert KINDS[kind] is type(event)
        back = from_row({**row, "study_id": event.study_id, "query_id": event.query_id,
                         "created": "t1", "id": event_id})
        assert type(back) is type(event) and back.details == details and back.key == key


def test_an_event_of_an_unknown_kind_is_shown_from_what_it_stores():
    """A newer watcher's event read by this one: the digest still renders, as before."""
    study = Study("pubmed", "publication", {"pmid": "1"}, "A study")
    later = from_row({"key": "embargo:1", "kind": "embargo_lifted", "study_id": 1,
                      "query_id": None, "details": json.dumps({"changes": ["in a journal"]}),
                      "created": "t", "id": 3})
    notice = from_row({"key": "x", "kind": "something_else", "study_id": None,
                       "query_id": None, "details": None, "created": None, "id": 4})
    assert isinstance(later, Unknown) and later.kind == "embargo_lifted"
    pending = [PendingItem(1, later, study, [Match("q", "pubmed")]),
               PendingItem(2, notice, None, [])]
    built = digest_module.build("d", pending, {"q": "Q"}, [], generated="2026-11-01T00:00:00",
                                since=None)
    out = text.render(built)
    assert "1 embargo lifted" in out and "[embargo lifted" in out and "in a journal" in out
    assert "! something else" in out
    posted = json.dumps([m.payload() for m in slack.render(built, threaded=True)])
    assert "1 embargo lifted" in posted and "in a journal" in posted
    assert "in a journal" in email.render(built).html
