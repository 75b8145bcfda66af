"""Pairs of records of TWO studies that look alike (a trap for a join on titles or shared
DOIs): one group's trials, protocol and results, errata, look-alike titles, bad or no ids."""

from __future__ import annotations

from dataclasses import replace

from shapes import (
    Paper,
    Trial,
    ctgov,
    epmc_link,
    europepmc,
    feed,
    isrctn,
    pubmed,
)
from vocabulary import (
    CONDITIONS,
    GROUPS,
    GUESS,
    JOURNALS,
    SPONSORS,
    add,
    journal_doi,
    new_isrctn,
    new_nct,
    new_paper,
    new_pmid,
    new_ppr,
    preprint_of,
    rec,
    rng,
    rxiv_link,
    swap,
    title_for,
)


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
                          server="medRxiv", title=_narrowed(one.title))
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


def _narrowed(title: str) -> str:
    """The group's next study's title: the same words, narrowed to another population."""
    head, colon, tail = title.partition(":")
    return f"{head} in adolescents{colon}{tail}"
