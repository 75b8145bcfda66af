"""Search benchmark: `watcher search` over N stored studies (synthetic, stored through the
Store as a poll stores them: save_record, then add_match, so the FTS index is filled by its
triggers as in production).

    .venv/bin/python benchmarks/bench_search.py [N] [DB]

Builds DB (default: a temporary file) unless it already holds studies, then times a few
searches in-process (the query only) and as the real command (`python -m watcher search`, a
new process each: imports, opening the database, the query, printing). Figures are recorded
in benchmarks/README.md.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.db import Store  # noqa: E402
from watcher.models import Study  # noqa: E402

# A clinical vocabulary drawn Zipf-like, so some words are in most studies and some in few.
_VOCABULARY = ("ketamine esketamine depression treatment resistant major bipolar suicidal ideation "
          "anxiety ptsd pain chronic postoperative analgesia infusion intranasal intravenous "
          "randomized controlled trial placebo double blind efficacy safety response remission "
          "relapse maintenance dose week patients adults adolescents cohort retrospective "
          "prospective meta analysis systematic review glutamate nmda receptor antagonist "
          "synaptic plasticity bdnf mtor rapid antidepressant effect dissociative symptoms "
          "hamilton madrs score baseline outcome primary secondary endpoint sedation emergency "
          "department anaesthesia alcohol use disorder cocaine opioid craving abstinence "
          "psychotherapy assisted session electroconvulsive therapy comparison hospital "
          "inpatient outpatient clinic veterans military trauma obsessive compulsive eating "
          "anorexia autism schizophrenia cognitive memory neuroimaging fmri connectivity")
_WORDS = _VOCABULARY.split()
_NAMES = ("Smith Zhang Krystal Sanacora Murrough Zarate Abdallah Wilkinson Daly Fava Popova "
             "Singh Chen Wang Li Kim Park Nguyen Garcia Martinez Rossi Muller Dubois Silva")
_SURNAMES = _NAMES.split()
_CONDITIONS = ["depression", "ptsd", "pain", "anxiety", "substance-use", "ocd",
               "eating-disorders", "suicidality"]


def _text(rng: random.Random, words: int) -> str:
    weights = [1 / (rank + 1) for rank in range(len(_WORDS))]
    return " ".join(rng.choices(_WORDS, weights, k=words))


def fill(store: Store, count: int, *, seed: int = 18) -> None:
    """*count* studies through save_record and add_match, in transactions of 1,000."""
    rng = random.Random(seed)
    start = date(2016, 1, 1)
    for first in range(0, count, 1000):
        with store.transaction():
            for n in range(first, min(first + 1000, count)):
                pmid = str(50_000_000 + n)
                listed = (start + timedelta(days=n * 3650 // count)).isoformat()
                study = Study(
                    source="pubmed", kind="publication", ids={"pmid": pmid},
                    title=_text(rng, 12).capitalize() + ".",
                    abstract=_text(rng, 220) + (" arketamine" if n % 1000 == 7 else ""),
                    authors=[f"{rng.choice(_SURNAMES)} {chr(65 + rng.randrange(26))}"
                             for _ in range(rng.randint(1, 12))],
                    journal=rng.choice(["J Affect Disord", "Lancet Psychiatry", "JAMA",
                                        "Mol Psychiatry", "Anesth Analg", "Pain"]),
                    published=listed[:4], year=int(listed[:4]), entry_date=listed,
                    url=f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/")
                saved = store.save_record("pubmed", pmid, json.dumps(study.to_dict()), study,
                                          f"{listed}T06:00:00Z")
                for condition in rng.sample(_CONDITIONS, rng.randint(1, 2)):
                    store.add_match(saved.study_id, condition, "pubmed", run_id=1,
                                    now=f"{listed}T06:00:00Z", excluded=None, labels=[])
        if first % 10_000 == 0:
            print(f"  stored {first + 1000:,}", file=sys.stderr)


SEARCHES = [
    ("a word in most studies", ["ketamine"]),
    ("a rarer word", ["fmri"]),
    ("a word in 100 of the studies", ["arketamine"]),
    ("a word in none", ["zebrafish"]),
    ("a phrase", ['"treatment resistant depression"']),
    ("an author", ["Sanacora"]),
    ("hyphenated, as typed", ["treatment-resistant"]),
    ("a prefix", ["esket*"]),
    ("two words OR", ["anorexia OR autism"]),
    ("--condition and --since", ["ketamine", "--condition", "ocd", "--since", "2025-01-01"]),
]


def main(count: int, db: Path) -> None:
    store = Store(db)
    have = store.count("studies")
    if have < count:
        started = time.perf_counter()
        fill(store, count - have)
        print(f"stored {count - have:,} studies in {time.perf_counter() - started:.1f} s; "
              f"database {db.stat().st_size / 1e6:.1f} MB")
    print(f"{store.count('studies'):,} studies in {db}")
    print("| search | hits (limit 50) | query in-process | `watcher search` (new process) |")
    print("| --- | --- | --- | --- |")
    env = {**os.environ, "WATCHER_DB": str(db), "WATCHER_QUERIES": str(ROOT / "queries")}
    for label, args in SEARCHES:
        text, rest = args[0], args[1:]
        conditions = [rest[rest.index("--condition") + 1]] if "--condition" in rest else None
        since = rest[rest.index("--since") + 1] if "--since" in rest else None
        started = time.perf_counter()
        hits = store.search(text, conditions=conditions, since=since)
        in_process = time.perf_counter() - started
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "watcher", "search", *args],
                              env=env, capture_output=True, text=True, check=True)
        command = time.perf_counter() - started
        assert done.stdout.strip(), done.stderr
        print(f"| {label} (`{' '.join(args)}`) | {len(hits)} | {in_process * 1000:.0f} ms "
              f"| {command:.2f} s |")
    store.close()


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    if len(sys.argv) > 2:
        main(n, Path(sys.argv[2]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(n, Path(tmp) / "watcher.db")
