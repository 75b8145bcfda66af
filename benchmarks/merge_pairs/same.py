"""Pairs of records of ONE study: across sources, and a preprint with its published version."""

from __future__ import annotations

from dataclasses import replace

from shapes import (
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
from vocabulary import (
    CONDITIONS,
    DESIGNS,
    GROUPS,
    GUESS,
    LOADER,
    SPONSORS,
    TREATMENTS,
    add,
    changed_title,
    new_isrctn,
    new_nct,
    new_paper,
    new_pmid,
    preprint_of,
    rec,
    rng,
    rxiv_link,
    swap,
    title_for,
)


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
        # posted the same year it was published: the conservative rule compares years
        pre = preprint_of(paper, title=variants[i % 4],
                          months_before=min(rng.randint(1, 5), paper.month - 1))
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
