"""Write the labelled merge set, benchmarks/merge_pairs/pairs.jsonl (committed; re-run only to
change the set, then review the diff):

    .venv/bin/python benchmarks/merge_pairs/generate.py

Each line is one pair of source records and the truth about them:

    {"id": "epmc-loader-003", "category": "preprint_published_loader", "same": true,
     "reason": "one line: why these are (or are not) one study",
     "a": {"source": "europepmc", "payload": "..."}, "b": {"source": "pubmed", ...},
     "lookups": [{"via": "biorxiv", "payload": "..."}]}   # optional

Record A is stored first, then B; ``lookups`` are answers a look-up step would get after the
poll (bioRxiv ``/pubs``, Crossref ``works``), applied last. ``same`` is the truth (one study or
not), never what the code is expected to do: a true pair the project cannot join (no shared
id, a changed title behind only a guessed link) is a miss counted against recall.

The studies are invented but realistic (ketamine and esketamine in psychiatry; groups that
publish several trials with similar titles: ``vocabulary.py``); the payloads are the real
fixtures' shapes (``shapes.py``); ``same.py`` writes the pairs of one study and
``different.py`` the look-alike pairs of two. Ids are drawn from a seeded generator, so a
re-run writes the same file.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from different import alike_but_different, ptsd_trials_by_one_group  # noqa: E402
from same import preprints_and_published, same_across_sources  # noqa: E402
from vocabulary import PAIRS  # noqa: E402

OUT = Path(__file__).resolve().parent / "pairs.jsonl"


def main() -> None:
    same_across_sources()
    preprints_and_published()
    ptsd_trials_by_one_group()
    alike_but_different()
    with OUT.open("w", encoding="utf-8") as out:
        for pair in PAIRS:
            out.write(json.dumps(pair, ensure_ascii=False) + "\n")
    same = sum(p["same"] for p in PAIRS)
    print(f"{len(PAIRS)} pairs ({same} one study, {len(PAIRS) - same} two) -> {OUT}")


if __name__ == "__main__":
    main()
