"""The material the merge set is made of: realistic ketamine-psychiatry studies (groups that
publish several trials with similar titles), seeded ids, and the pair list being written."""

from __future__ import annotations

import random
from dataclasses import replace

from shapes import Paper

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
