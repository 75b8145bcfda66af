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
publish several trials with similar titles); the payloads are the real fixtures' shapes
(``shapes.py``). Ids are drawn from a seeded generator, so a re-run writes the same file.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shapes import (  # noqa: E402
    Paper,
    Trial,
    biorxiv_pubs,
    crossref_work,
    ctgov,
    epmc_link,
    europepmc,
    feed,
    isrctn,
    pubmed,
)

OUT = Path(__file__).resolve().parent / "pairs.jsonl"
LOADER = "CrossRef Pre-print loader"
GUESS = "Link created based on a title-first author match"

rng = random.Random(19)

GROUPS = [  # first author, then co-authors: groups that run several ketamine trials
    [("Feder", "Adriana"), ("Costi", "Sara"), ("Rutter", "Sarah B"), ("Murrough", "James W")],
    [("Abdallah", "Chadi G"), ("Averill", "Lynnette A"), ("Krystal", "John H")],
    [("Zarate", "Carlos A"), ("Ballard", "Elizabeth D"), ("Park", "Lawrence T")],
    [("Phillips", "Jennifer L"), ("Norris", "Sandhaya"), ("Blier", "Pierre")],
    [("Grabski", "Meryem"), ("Mollaahmetoglu", "Merve"), ("Morgan", "Celia J A")],
    [("Glue", "Paul"), ("Loo", "Colleen"), ("Hughes-Medlicott", "Natalie J")],
    [("Dakwar", "Elias"), ("Nunes", "Edward V"), ("Levin", "Frances R")],
    [("Fava", "Maurizio"), ("Freeman", "Marlene P"), ("Papakostas", "George I")],
    [("Rodriguez", "Carolyn I"), ("Kegeles", "Lawrence S"), ("Simpson", "H Blair")],
    [("Anand", "Amit"), ("Mathew", "Sanjay J"), ("Sanacora", "Gerard")],
    [("Daly", "Ella J"), ("Singh", "Jaskaran B"), ("Drevets", "Wayne C")],
    [("Ionescu", "Dawn F"), ("Fu", "Dong-Jing"), ("Canuso", "Carla M")],
    [("Beaglehole", "Ben"), ("Mulder", "Roger T"), ("Glue", "Paul")],
    [("Domany", "Yoav"), ("Shelton", "Richard C"), ("McCullumsmith", "Cheryl B")],
    [("Wilkinson", "Samuel T"), ("Rhee", "Taeho Greg"), ("Ostroff", "Robert B")],
    [("Ekstrand", "Joakim"), ("Fattah", "Caroline"), ("Persson", "Marie")],
]
CONDITIONS = [
    ("chronic posttraumatic stress disorder", "PTSD", "Stress Disorders, Post-Traumatic"),
    ("treatment-resistant depression", "TRD", "Depressive Disorder, Treatment-Resistant"),
    ("suicidal ideation in the emergency department", "suicidal ideation", "Suicidal Ideation"),
    ("bipolar depression", "bipolar depression", "Bipolar Disorder"),
    ("obsessive-compulsive disorder", "OCD", "Obsessive-Compulsive Disorder"),
    ("alcohol use disorder", "alcohol use disorder", "Alcoholism"),
    ("cocaine use disorder", "cocaine use disorder", "Cocaine-Related Disorders"),
    ("social anxiety disorder", "social anxiety", "Phobia, Social"),
    ("late-life depression", "late-life depression", "Depression"),
    ("adolescent major depressive disorder", "adolescent depression", "Depressive Disorder"),
    ("postpartum depression", "postpartum depression", "Depression, Postpartum"),
    ("anorexia nervosa", "anorexia nervosa", "Anorexia Nervosa"),
]
TREATMENTS = [
    "repeated intravenous ketamine", "intranasal esketamine", "a single ketamine infusion",
    "oral ketamine", "ketamine-assisted psychotherapy", "arketamine", "subcutaneous ketamine",
    "ketamine augmentation of prolonged exposure therapy", "ketamine versus midazolam",
    "ketamine versus electroconvulsive therapy",
]
DESIGNS = [
    "a randomized clinical trial", "a double-blind, placebo-controlled trial",
    "a randomised controlled trial", "an open-label pilot study",
    "a multicentre randomised trial", "a crossover trial",
]
JOURNALS = [
    ("American Journal of Psychiatry", "Am J Psychiatry", "10.1176/appi.ajp.{y}.{n}"),
    ("JAMA Psychiatry", "JAMA Psychiatry", "10.1001/jamapsychiatry.{y}.{n}"),
    ("Journal of Affective Disorders", "J Affect Disord", "10.1016/j.jad.{y}.{mo}.0{k}"),
    ("Neuropsychopharmacology", "Neuropsychopharmacology", "10.1038/s41386-0{yy}-0{n}-{c}"),
    ("Biological Psychiatry", "Biol Psychiatry", "10.1016/j.biopsych.{y}.{mo}.0{k}"),
    ("Lancet Psychiatry", "Lancet Psychiatry", "10.1016/s2215-0366({yy})00{n}-{c}"),
    ("Psychological Medicine", "Psychol Med", "10.1017/s00332917{yy}00{k4}"),
    ("Molecular Psychiatry", "Mol Psychiatry", "10.1038/s41380-0{yy}-0{n}-{c}"),
]
SPONSORS = ["Icahn School of Medicine at Mount Sinai", "Yale University",
            "National Institute of Mental Health (NIMH)", "University of Ottawa",
            "University of Exeter", "University of Otago", "Columbia University",
            "Massachusetts General Hospital", "Janssen Research & Development, LLC",
            "Karolinska Institutet", "University of New South Wales", "King's College London"]

_used: set[str] = set()


def unique(make) -> str:
    while True:
        value = make()
        if value not in _used:
            _used.add(value)
            return value


def new_pmid() -> str:
    return unique(lambda: str(rng.randint(33000000, 40999999)))


def new_nct() -> str:
    return unique(lambda: f"NCT0{rng.randint(3000000, 6999999)}")


def new_isrctn() -> str:
    return unique(lambda: f"ISRCTN{rng.randint(10000000, 99999999)}")


def new_ppr() -> str:
    return unique(lambda: f"PPR{rng.randint(300000, 1399999)}")


def journal_doi(journal: tuple[str, str, str], year: int) -> str:
    return unique(lambda: journal[2].format(
        y=year, yy=str(year)[2:], n=rng.randint(10, 9999), c=rng.randint(0, 9),
        mo=f"{rng.randint(1, 12):02d}", k=rng.randint(10, 99), k4=rng.randint(1000, 9999)))


def preprint_doi(server: str, year: int, month: int, day: int) -> str:
    if server == "Research Square":
        return unique(lambda: f"10.21203/rs.3.rs-{rng.randint(1000000, 4999999)}/v1")
    prefix = "10.64898" if server == "medRxiv" and year >= 2025 else "10.1101"
    # medRxiv's numbers start with the two-digit year (2024.03.01.24303600), bioRxiv's do not
    lead = str(year)[2:] if server == "medRxiv" else ""
    return unique(lambda: f"{prefix}/{year}.{month:02d}.{day:02d}.{lead}"
                          f"{rng.randint(100000, 999999)}")


def title_for(condition: tuple[str, str, str], treatment: str, design: str) -> str:
    forms = [
        f"Efficacy of {treatment} for {condition[0]}: {design}",
        f"{treatment[0].upper() + treatment[1:]} in {condition[0]}: {design}",
        f"Rapid reduction of {condition[1]} symptoms with {treatment}: {design}",
        f"{treatment[0].upper() + treatment[1:]} versus placebo for {condition[0]}",
    ]
    return rng.choice(forms)


def changed_title(title: str, condition: tuple[str, str, str]) -> str:
    """The published version's title: reworded as journals make authors do."""
    forms = [
        f"{title.split(':')[0]}: results of {rng.choice(DESIGNS)}",
        f"Ketamine and {condition[1]}: outcomes of {rng.choice(DESIGNS)}",
        f"Effect of {rng.choice(TREATMENTS)} on {condition[0]} symptom severity",
    ]
    return rng.choice([form for form in forms if form != title])


def abstract_for(condition: tuple[str, str, str], treatment: str) -> str:
    n = rng.randint(24, 180)
    return (f"Background: Few treatments act rapidly in {condition[0]}. Methods: {n} adults "
            f"were randomised to {treatment} or an active control. Results: symptoms fell "
            f"more with ketamine at 24 hours and at week {rng.randint(2, 12)}.")


def new_paper(*, year: int | None = None, group: list | None = None,
              condition: tuple | None = None, treatment: str | None = None,
              journal: tuple | None = None) -> Paper:
    year = year or rng.randint(2019, 2026)
    group = group or rng.choice(GROUPS)
    condition = condition or rng.choice(CONDITIONS)
    treatment = treatment or rng.choice(TREATMENTS)
    journal = journal or rng.choice(JOURNALS)
    paper = Paper(title=title_for(condition, treatment, rng.choice(DESIGNS)),
                  authors=list(group[:1]) + rng.sample(group[1:], k=len(group) - 1),
                  year=year, month=rng.randint(1, 12), day=rng.randint(1, 28),
                  pmid=new_pmid(), journal=journal[0], iso=journal[1],
                  types=["Journal Article", "Randomized Controlled Trial"],
                  abstract=abstract_for(condition, treatment))
    paper.doi = journal_doi(journal, year)
    if rng.random() < 0.4:
        paper.pmcid = unique(lambda: f"PMC{rng.randint(7000000, 12999999)}")
    paper._condition = condition  # type: ignore[attr-defined]
    return paper


def preprint_of(paper: Paper, *, server: str | None = None, title: str | None = None,
                months_before: int = 7) -> Paper:
    """The preprint a journal article was posted as, months earlier."""
    server = server or rng.choice(["medRxiv", "medRxiv", "bioRxiv", "Research Square"])
    month = paper.month - months_before
    year = paper.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    pre = replace(paper, title=title or paper.title, year=year, month=month, pmid="",
                  pmcid="", ppr=new_ppr(), server=server, types=["Preprint"], ncts=[],
                  corrections=[], epmc_links=[], journal=server, iso=server)
    pre.doi = preprint_doi(server, year, month, pre.day)
    return pre


def rxiv_link(pre: Paper, version: int) -> str:
    """medRxiv's and bioRxiv's feeds link the version's short page; the DOI is in
    ``dc:identifier``."""
    return (f"http://{pre.server.lower()}.org/cgi/content/short/{pre.doi.split('/', 1)[1]}"
            f"v{version}?rss=1")


def rec(source: str, payload: str) -> dict:
    return {"source": source, "payload": payload}


PAIRS: list[dict] = []


def add(category: str, same: bool, reason: str, a: dict, b: dict,
        lookups: list[dict] | None = None) -> None:
    number = sum(p["category"] == category for p in PAIRS) + 1
    pair = {"id": f"{category}-{number:03d}", "category": category, "same": same,
            "reason": reason, "a": a, "b": b}
    if lookups:
        pair["lookups"] = lookups
    PAIRS.append(pair)


def swap(a: dict, b: dict, i: int) -> tuple[dict, dict]:
    """Every other pair the other way round: arrival order must not matter."""
    return (b, a) if i % 2 else (a, b)


# --- one study, two records ---------------------------------------------------------------------

def same_across_sources() -> None:
    for i in range(20):
        paper = new_paper()
        med = replace(paper, doi=paper.doi.upper() if i % 3 == 0 else paper.doi)
        a, b = swap(rec("pubmed", pubmed(paper)), rec("europepmc", europepmc(med)), i)
        add("pubmed_and_europepmc_med", True,
            f"the same article as PubMed and Europe PMC (SRC:MED) records: PMID {paper.pmid}"
            f", DOI {paper.doi}" + (" (upper-case in Europe PMC)" if i % 3 == 0 else ""), a, b)
    for i in range(12):
        paper = new_paper()
        link = f"https://doi.org/{paper.doi.upper()}" if i % 2 else None
        entry = feed(paper, channel=paper.journal, guid=f"{paper.iso}:{paper.doi}",
                     identifier=i % 3 != 0, link=link)
        a, b = swap(rec("pubmed", pubmed(paper)), rec("feed", entry), i)
        add("pubmed_and_feed_doi", True,
            f"a journal table-of-contents entry and the PubMed record of the same article "
            f"(DOI {paper.doi}" + (", only in the entry's link" if i % 3 == 0 else "") + ")",
            a, b)
    for i in range(15):
        group = rng.choice(GROUPS)
        condition = rng.choice(CONDITIONS)
        treatment = rng.choice(TREATMENTS)
        nct, number = new_nct(), new_isrctn()
        title = title_for(condition, treatment, rng.choice(DESIGNS))
        official = f"{title}, with {rng.randint(2, 12)}-week follow-up"
        start = f"{rng.randint(2018, 2025)}-{rng.randint(1, 12):02d}-01"
        sponsor = rng.choice(SPONSORS)
        ct_trial = Trial(title=title, official_title=official, official=group[0],
                         sponsor=sponsor, start=start, nct=nct,
                         secondary=[(number, "REGISTRY")] if i % 2 else [],
                         conditions=[condition[2]])
        isr_trial = Trial(title=title.replace("randomized", "randomised"),
                          official_title=official, official=group[0], sponsor=sponsor,
                          start=start, isrctn=number,
                          secondary=[(nct, "clinicalTrialsGovNumber")],
                          conditions=[condition[0]])
        a, b = swap(rec("clinicaltrials", ctgov(ct_trial)), rec("isrctn", isrctn(isr_trial)), i)
        add("trial_in_two_registries", True,
            f"one trial registered in ClinicalTrials.gov ({nct}) and ISRCTN ({number}); the "
            "ISRCTN record names the NCT" + (" and ClinicalTrials.gov the ISRCTN" if i % 2 else ""),
            a, b)


def preprints_and_published() -> None:
    for i in range(20):
        paper = new_paper()
        changed = i % 2 == 1
        pre = preprint_of(paper, title=changed_title(paper.title, paper._condition)
                          if changed else None, server="medRxiv" if i % 3 else "bioRxiv")
        reference = f"{paper.iso}. {paper.year};{rng.randint(10, 300)}:{rng.randint(1, 900)}"
        pre.epmc_links = [epmc_link("Preprint of", "MED", paper.pmid, LOADER, reference)]
        a, b = swap(rec("europepmc", europepmc(pre)), rec("pubmed", pubmed(paper)), i)
        add("preprint_published_loader", True,
            f"Europe PMC preprint {pre.ppr} 'Preprint of' PMID {paper.pmid} ({LOADER})"
            + ("; the journal changed the title" if changed else ""), a, b)
    for i in range(8):
        paper = new_paper()
        pre = preprint_of(paper, title=changed_title(paper.title, paper._condition)
                          if i % 2 else None)
        med = replace(paper, epmc_links=[epmc_link("Preprint in", "PPR", pre.ppr, LOADER)])
        a, b = swap(rec("europepmc", europepmc(pre)), rec("europepmc", europepmc(med)), i)
        add("published_preprint_in", True,
            f"Europe PMC MED record {paper.pmid} 'Preprint in' {pre.ppr} ({LOADER})"
            + ("; title changed" if i % 2 else ""), a, b)
    for i in range(15):
        paper = new_paper()
        changed = i % 2 == 0
        pre = preprint_of(paper, server=["medRxiv", "bioRxiv"][i % 2],
                          title=changed_title(paper.title, paper._condition) if changed else None)
        if i % 3 == 0:
            pre_rec = rec("feed", feed(pre, channel=f"{pre.server} Psychiatry",
                                       guid=pre.doi + "v1",
                                       link=rxiv_link(pre, 1)))
            how = "a medRxiv/bioRxiv feed entry"
        elif i % 3 == 1:
            pre_rec = rec("europepmc", europepmc(pre))
            how = f"Europe PMC preprint {pre.ppr}"
        else:
            indexed = replace(pre, pmid=new_pmid(), ppr="", journal=pre.server, iso=pre.server)
            pre_rec = rec("pubmed", pubmed(indexed))
            how = f"the PubMed-indexed preprint {indexed.pmid}"
        a, b = swap(pre_rec, rec("pubmed", pubmed(paper)), i)
        add("preprint_published_biorxiv", True,
            f"{how} (DOI {pre.doi}) published as PMID {paper.pmid} (DOI {paper.doi}): "
            f"bioRxiv's /pubs mapping" + ("; title changed" if changed else ""), a, b,
            [{"via": "biorxiv", "payload": biorxiv_pubs(pre, paper)}])
    for i in range(12):
        paper = new_paper()
        changed = i % 2 == 1
        pre = preprint_of(paper, server=["Research Square", "medRxiv"][i % 2],
                          title=changed_title(paper.title, paper._condition) if changed else None)
        pre_rec = (rec("europepmc", europepmc(pre)) if i % 3 else
                   rec("feed", feed(pre, channel=f"{pre.server} latest", guid=pre.doi)))
        a, b = swap(pre_rec, rec("pubmed", pubmed(paper)), i)
        add("preprint_published_crossref", True,
            f"Crossref work {paper.doi} relation has-preprint {pre.doi}"
            + ("; title changed" if changed else ""), a, b,
            [{"via": "crossref", "payload": crossref_work(paper, pre.doi)}])
    for i in range(10):
        paper = new_paper()
        variants = [paper.title.upper(), paper.title.rstrip(".") + ".",
                    paper.title.replace(":", " -"), paper.title]
        pre = preprint_of(paper, title=variants[i % 4], months_before=rng.randint(1, 5))
        pre.epmc_links = [epmc_link("Preprint of", "MED", paper.pmid, GUESS)]
        a, b = swap(rec("europepmc", europepmc(pre)), rec("pubmed", pubmed(paper)), i)
        add("guessed_link_same_title", True,
            f"Europe PMC's title-first author guess {pre.ppr} -> PMID {paper.pmid}: same "
            "title (case and punctuation aside), same first author, same year: one study",
            a, b)
    for i in range(6):
        paper = new_paper()
        pre = preprint_of(paper, title=changed_title(paper.title, paper._condition))
        pre.epmc_links = [epmc_link("Preprint of", "MED", paper.pmid, GUESS)]
        a, b = swap(rec("europepmc", europepmc(pre)), rec("pubmed", pubmed(paper)), i)
        add("guessed_link_changed_title", True,
            f"truly one study, but joined only by Europe PMC's guess and the journal changed "
            f"the title ({pre.ppr} -> {paper.pmid}): a conservative rule may miss it", a, b)
    for i in range(6):
        paper = new_paper()
        pre = preprint_of(paper, server="medRxiv")
        first = feed(pre, channel="medRxiv Psychiatry", guid=pre.doi + "v1",
                     link=rxiv_link(pre, 1))
        second_pre = replace(pre, month=pre.month % 12 + 1,
                             title=pre.title if i % 2 else changed_title(pre.title,
                                                                         paper._condition))
        second = (feed(second_pre, channel="medRxiv Psychiatry", guid=pre.doi + "v2",
                       link=rxiv_link(pre, 2)) if i % 3 else europepmc(second_pre))
        add("preprint_two_versions", True,
            f"versions 1 and 2 of one medRxiv preprint (DOI {pre.doi})",
            rec("feed", first), rec("feed" if i % 3 else "europepmc", second))
    for i in range(6):
        paper = new_paper()
        pre = preprint_of(paper, server="medRxiv")
        indexed = replace(pre, pmid=new_pmid(), ppr="")
        a, b = swap(rec("pubmed", pubmed(indexed)), rec("europepmc", europepmc(pre)), i)
        add("preprint_pubmed_and_europepmc", True,
            f"one medRxiv preprint indexed by PubMed ({indexed.pmid}) and by Europe PMC "
            f"({pre.ppr}), sharing DOI {pre.doi}", a, b)
    for i in range(4):
        paper = new_paper()
        page = ("https://www.sciencedirect.com/science/article/pii/S01650327"
                f"{rng.randint(10**7, 10**8)}")
        entry = feed(replace(paper, doi=""), channel=paper.journal, link=page)
        a, b = swap(rec("pubmed", pubmed(paper)), rec("feed", entry), i)
        add("same_paper_no_shared_id", True,
            "a publisher's feed entry with no DOI or id (its link is the publisher's page) and "
            f"the PubMed record {paper.pmid} of the same article: nothing says so but the title",
            a, b)


# --- two studies that look alike -----------------------------------------------------------------

def ptsd_trials_by_one_group() -> None:
    group = GROUPS[0]
    ptsd = CONDITIONS[0]
    for i in range(10):
        sponsor = SPONSORS[0]
        first = Trial(title="Repeated Ketamine Infusions for Chronic PTSD",
                      official_title="A Randomized Controlled Trial of Repeated Intravenous "
                                     "Ketamine for Chronic Posttraumatic Stress Disorder",
                      official=group[0], sponsor=sponsor, start=f"{2016 + i % 5}-02-01",
                      nct=new_nct(), conditions=[ptsd[2]])
        second = replace(first, nct=new_nct(), start=f"{2020 + i % 5}-09-01",
                         title=rng.choice(["Repeated Ketamine Infusions for Chronic PTSD in "
                                           "Veterans", "Ketamine Plus Prolonged Exposure for "
                                           "Chronic PTSD", "Repeated Ketamine Infusions for "
                                           "Chronic PTSD: Maintenance"]),
                         official_title="A Randomized Controlled Trial of Repeated Intravenous "
                                        "Ketamine for Chronic Posttraumatic Stress Disorder in "
                                        "Military Veterans")
        add("ptsd_trials_same_group", False,
            f"two ketamine PTSD trials of one group and PI ({first.nct}, {second.nct}), "
            "near-identical titles", rec("clinicaltrials", ctgov(first)),
            rec("clinicaltrials", ctgov(second)))
    for i in range(10):
        year = 2021 + i % 4
        one = new_paper(year=year, group=group, condition=ptsd,
                        treatment="repeated intravenous ketamine", journal=JOURNALS[0])
        one.title = ("Efficacy of repeated ketamine infusions for chronic posttraumatic stress "
                     "disorder: a randomized clinical trial")
        two = new_paper(year=year + (i % 2), group=group, condition=ptsd,
                        treatment="repeated intravenous ketamine", journal=JOURNALS[0])
        two.title = rng.choice([
            "Efficacy of repeated ketamine infusions for chronic posttraumatic stress "
            "disorder in veterans: a randomized clinical trial",
            "Repeated ketamine infusions for chronic posttraumatic stress disorder: a "
            "randomized clinical trial of maintenance",
            "Efficacy of ketamine plus prolonged exposure for chronic posttraumatic stress "
            "disorder: a randomized clinical trial"])
        sources = [("pubmed", pubmed), ("europepmc", europepmc)][i % 2]
        add("ptsd_papers_same_group", False,
            f"two ketamine PTSD trials' papers by the same first author ({one.pmid}, "
            f"{two.pmid}), titles differing by a few words",
            rec("pubmed", pubmed(one)), rec(sources[0], sources[1](two)))


def alike_but_different() -> None:
    for i in range(15):
        paper = new_paper()
        trial = Trial(title=paper.title.split(":")[0], official_title=paper.title,
                      official=tuple(paper.authors[0]), sponsor=rng.choice(SPONSORS),
                      start=f"{paper.year - 3}-01-15", conditions=["Depression"])
        if i % 3 == 2:
            trial.isrctn = new_isrctn()
            paper.abstract += f" Trial registration: {trial.isrctn}."
            trial_rec = rec("isrctn", isrctn(trial))
        else:
            trial.nct = new_nct()
            paper.ncts = [trial.nct]
            trial.pmids = [paper.pmid] if i % 2 else []
            trial_rec = rec("clinicaltrials", ctgov(trial))
        a, b = swap(rec("pubmed", pubmed(paper)), trial_rec, i)
        add("paper_reports_trial", False,
            f"the results paper {paper.pmid} and the registered trial it reports "
            f"({trial.nct or trial.isrctn}): linked, not one record", a, b)
    for i in range(10):
        results = new_paper()
        nct = new_nct()
        results.ncts = [nct]
        protocol = new_paper(year=results.year - 2, group=results.authors,
                             journal=("Trials", "Trials", "10.1186/s13063-0{yy}-0{n}-{c}"))
        protocol.authors = results.authors
        protocol.title = (f"{results.title.split(':')[0]}: study protocol for a randomised "
                          "controlled trial")
        protocol.types = ["Journal Article", "Clinical Trial Protocol"]
        protocol.ncts = [nct]
        a, b = swap(rec("pubmed", pubmed(protocol)), rec("pubmed", pubmed(results)), i)
        add("protocol_and_results", False,
            f"a trial's protocol ({protocol.pmid}) and its results paper ({results.pmid}): "
            f"same trial {nct}, same authors, two publications", a, b)
    for i in range(10):
        paper = new_paper()
        erratum = Paper(title="Erratum." if i % 2 else f"Error in Figure {i % 3 + 1}.",
                        authors=[], year=paper.year, month=min(paper.month + 2, 12),
                        pmid=new_pmid(), doi=paper.doi, journal=paper.journal, iso=paper.iso,
                        types=["Published Erratum"],
                        corrections=[("ErratumFor", paper.pmid,
                                      f"{paper.iso}. {paper.year}. doi: {paper.doi}")])
        other = [("pubmed", pubmed), ("europepmc", europepmc)][i % 3 == 2]
        a, b = swap(rec("pubmed", pubmed(paper)), rec(other[0], other[1](erratum)), i)
        add("erratum_shares_doi", False,
            f"an erratum ({erratum.pmid}) indexed with its article's DOI {paper.doi}: two "
            "records, two PMIDs", a, b)
    for i in range(8):
        paper = new_paper()
        notice = Paper(title=f"Correction to: {paper.title}", authors=paper.authors[:1],
                       year=paper.year, month=min(paper.month + 3, 12), pmid=new_pmid(),
                       journal=paper.journal, iso=paper.iso, types=["Published Erratum"],
                       corrections=[("ErratumFor", paper.pmid, paper.iso)])
        notice.doi = journal_doi(next(j for j in JOURNALS if j[0] == paper.journal), paper.year)
        if i % 2:
            a, b = rec("pubmed", pubmed(paper)), rec("pubmed", pubmed(notice))
        else:
            a, b = rec("feed", feed(notice, channel=paper.journal)), rec("pubmed", pubmed(paper))
        add("correction_notice", False,
            f"a correction notice '{notice.title[:40]}...' with its own DOI and the "
            "article it corrects", a, b)
    for i in range(8):
        group = rng.choice(GROUPS)
        condition = rng.choice(CONDITIONS)
        one = preprint_of(new_paper(group=group, condition=condition), server="medRxiv")
        two = preprint_of(new_paper(group=group, condition=condition, year=one.year),
                          server="medRxiv", title=one.title.replace(":", " in adolescents:"))
        make = [lambda p: rec("europepmc", europepmc(p)),
                lambda p: rec("feed", feed(p, channel="medRxiv Psychiatry", guid=p.doi,
                                           link=rxiv_link(p, 1)))][i % 2]
        add("two_different_preprints", False,
            f"two preprints of one group with near-identical titles ({one.doi}, {two.doi})",
            make(one), make(two))
    for i in range(8):
        group = rng.choice(GROUPS)
        one = new_paper(group=group, year=2019 + i % 3)
        two = new_paper(group=group, year=one.year + 3 + i % 2)
        two.title = one.title
        sources = [("pubmed", pubmed), ("europepmc", europepmc)][i % 2]
        add("same_title_different_year", False,
            f"the same title and first author in {one.year} ({one.pmid}) and {two.year} "
            f"({two.pmid}): a pilot and its replication", rec("pubmed", pubmed(one)),
            rec(sources[0], sources[1](two)))
    for i in range(8):
        one = new_paper()
        two = new_paper(year=one.year, group=rng.choice([g for g in GROUPS
                                                         if g[0] != one.authors[0]]))
        two.title = one.title
        sources = [("pubmed", pubmed), ("feed", lambda p: feed(p, channel=p.journal))][i % 2]
        add("same_title_different_first_author", False,
            f"one generic title, two groups ({one.authors[0][0]}, {two.authors[0][0]}), "
            "same year", rec("pubmed", pubmed(one)), rec(sources[0], sources[1](two)))
    for i in range(8):
        paper = new_paper()
        pre = preprint_of(new_paper(group=[paper.authors[0]] + paper.authors[1:],
                                    year=paper.year - 3, condition=paper._condition),
                          title=paper.title if i % 2 else paper.title.upper())
        pre.authors = paper.authors
        pre.epmc_links = [epmc_link("Preprint of", "MED", paper.pmid, GUESS)]
        a, b = swap(rec("europepmc", europepmc(pre)), rec("pubmed", pubmed(paper)), i)
        add("guessed_link_wrong", False,
            f"Europe PMC guessed {pre.ppr} ({pre.year}) -> PMID {paper.pmid} ({paper.year}) "
            "from the title and first author; they are an earlier and a later study", a, b)
    malformed = ["10.1016/", "10.1176", "N/A", "doi:", "10.12/abc", "https://doi.org/",
                 "10.1016/j.jad.2024.xx.xxx pending", "not available"]
    for i, bad in enumerate(malformed):
        one, two = new_paper(), new_paper()
        one.doi = two.doi = bad
        if i % 3 == 0:
            a, b = rec("pubmed", pubmed(one)), rec("feed", feed(two, channel=two.journal))
        elif i % 3 == 1:
            one.ppr, two.ppr = new_ppr(), new_ppr()
            a, b = rec("europepmc", europepmc(one)), rec("europepmc", europepmc(two))
        else:
            a = rec("feed", feed(one, channel=one.journal, guid=f"toc-{one.pmid}"))
            b = rec("feed", feed(two, channel=two.journal, guid=f"toc-{two.pmid}"))
        add("malformed_doi", False,
            f"two different studies both carrying the malformed DOI {bad!r}", a, b)
    for _ in range(5):
        one, two = new_paper(), new_paper()
        one.doi = two.doi = ""
        one.url = two.url = ""
        add("no_ids", False, "two feed entries of different studies with no id, link or DOI",
            rec("feed", feed(one, channel=one.journal)),
            rec("feed", feed(two, channel=two.journal)))
    for i in range(6):
        group = rng.choice(GROUPS)
        condition = rng.choice(CONDITIONS)
        title = title_for(condition, "ketamine", "a randomised controlled trial")
        sponsor = rng.choice(SPONSORS)
        one = Trial(title=title, official_title=title, official=group[0], sponsor=sponsor,
                    start=f"{2019 + i}-01-01", nct=new_nct(), conditions=[condition[2]])
        two = Trial(title=title.replace("ketamine", "esketamine"), official_title=title,
                    official=group[0], sponsor=sponsor, start=f"{2021 + i}-06-01",
                    isrctn=new_isrctn(), conditions=[condition[0]])
        a, b = swap(rec("clinicaltrials", ctgov(one)), rec("isrctn", isrctn(two)), i)
        add("similar_trials_two_registries", False,
            f"a ketamine trial in ClinicalTrials.gov ({one.nct}) and an esketamine one in "
            f"ISRCTN ({two.isrctn}), same sponsor and PI, no shared id", a, b)


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
