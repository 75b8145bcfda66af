"""Saved queries: the shipped files validate and cover every condition; bad YAML gets exit 2 and
one `path:line: message` per problem, never a traceback, and nothing is polled."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.helpers import ROOT
from watcher import config
from watcher.errors import ConfigError

SPEC_CONDITIONS = [
    "depression", "bipolar", "post-traumatic stress", "anxiety", "chronic pain", "ocd",
    "obsessive-compulsive", "substance use", "autism", "adhd", "neurodivergence",
    "suicidal ideation",
]

VALID = """\
interventions:
  ketamine:
    pubmed: ketamine[tiab]
    clinicaltrials: ketamine
destinations:
  team:
    kind: slack
    channel: "#watch"
    schedule:
      cron: "0 9 * * mon-fri"
      timezone: Europe/London
queries:
  - id: ptsd
    condition: PTSD
    intervention: ketamine
    destinations: [team]
    sources:
      pubmed:
        terms: PTSD[tiab]
"""


def test_shipped_queries_validate_and_list_every_condition(env):
    result = env.cli("validate", WATCHER_QUERIES=str(ROOT / "queries"))
    assert result.exit_code == 0, result.stderr
    listing = result.stdout.lower()
    for condition in SPEC_CONDITIONS:
        assert condition in listing, f"{condition!r} missing from `watcher validate`"
    assert "team-slack" in listing and "0 9 * * mon-fri (europe/london)" in listing


def test_shipped_queries_search_pubmed_and_clinicaltrials_for_every_condition():
    cfg = config.load(ROOT / "queries")
    assert len(cfg.queries) >= 10
    for query in cfg.queries:
        term = query.terms_for("pubmed")
        assert term and "esketamin*[tiab]" in term and "Spravato" in term, query.id
        assert term.count("(") == term.count(")"), query.id
        trials = query.sources["clinicaltrials"]
        assert trials.condition and query.intervention.clinicaltrials
        assert query.lookback_days <= 60, "a new query must not flood the channel"


def test_shared_intervention_and_exclusions_compose_the_pubmed_term(env):
    env.write_queries(VALID.replace("terms: PTSD[tiab]",
                                    "terms: PTSD[tiab]\n        exclude: rats[tiab]"))
    query = env.config().query("ptsd")
    assert query.terms_for("pubmed") == "(ketamine[tiab]) AND (PTSD[tiab]) NOT (rats[tiab])"
    search = query.search("pubmed")  # all a fetch is handed: its own options and terms
    assert (search.query_id, search.intervention, search.terms) == (
        "ptsd", "ketamine[tiab]", query.terms_for("pubmed"))
    assert search.options is query.sources["pubmed"]
    assert query.destinations == ("team",)
    assert env.config().destinations["team"].schedule.trigger() is not None


BAD = {
    "syntax": ("queries:\n  - id: a\n    condition: [unclosed\n", 3, "YAML syntax error"),
    "unknown key": (VALID.replace("    intervention: ketamine\n",
                                  "    intervention: ketamine\n    colour: red\n"),
                    16, "unknown key 'colour'"),
    "wrong type": (VALID.replace("lookback", "x").replace(
        "    destinations: [team]\n", "    destinations: [team]\n    lookback_days: soon\n"),
        17, "lookback_days: wrong type"),
    "missing field": (VALID.replace("    condition: PTSD\n", ""), 13,
                      "missing required field 'condition'"),
    "bad cron": (VALID.replace('"0 9 * * mon-fri"', '"0 25 * * mon"'), 10, "cron '0 25 * * mon'"),
    "numeric weekday": (VALID.replace('"0 9 * * mon-fri"', '"0 9 * * 1"'), 10,
                        "weekdays as names"),
    "unknown tz": (VALID.replace("Europe/London", "Mars/Olympus"), 11,
                   "unknown time zone 'Mars/Olympus'"),
    "unknown destination": (VALID.replace("destinations: [team]", "destinations: [tema]"), 16,
                            "unknown destination 'tema'"),
    "routed to a retired destination": (VALID.replace('    channel: "#watch"\n', "")
                                        .replace("team:\n    kind: slack", "team-2:\n"
                                                 "    kind: terminal") + "retired: team\n",
                                        15, "query 'ptsd' routes to destination 'team', which "
                                        "is retired; drop it from the query's destinations"),
    "empty file": ("# nothing here yet\n", 1, "file is empty"),
    "not a mapping": ("- id: ptsd\n  condition: PTSD\n", 1, "expected a mapping"),
    "bad kind": (VALID.replace("kind: slack", "kind: pigeon"), 7, "kind"),
    "slack without channel": (VALID.replace('    channel: "#watch"\n', ""), 6,
                              "needs 'channel'"),
    "renamed from a live destination": (VALID.replace(
        '    channel: "#watch"\n', '    channel: "#watch"\n    renamed_from: other\n'
        '  other:\n    kind: terminal\n'), 9,
        "destination 'team': renamed_from 'other' is still a destination in the YAML"),
    "two names swapped in one edit": (VALID.replace(
        '    channel: "#watch"\n', '    channel: "#watch"\n    renamed_from: other\n'
        '  other:\n    kind: terminal\n    renamed_from: team\n'), 9,
        "two names cannot be swapped in one edit"),
    "old name claimed twice": (VALID.replace(
        '    channel: "#watch"\n', '    channel: "#watch"\n    renamed_from: [old]\n'
        '  other:\n    kind: terminal\n    renamed_from: old\n'), 12,
        "destination 'other': renamed_from 'old' is also claimed by destination 'team'"),
    "retired yet still a destination": (VALID + "retired: [team]\n", 20,
                                        "retired 'team' is still a destination in the YAML"),
    "retired terminal while a query routes nowhere": (
        VALID.replace("    destinations: [team]\n", "") + "retired: [terminal]\n", 19,
        "retired 'terminal' still receives the digest of query 'ptsd', which names no"
        " destination"),
    "retired and renamed at once": (VALID.replace(
        '    channel: "#watch"\n', '    channel: "#watch"\n    renamed_from: old\n')
        + "retired: [old]\n", 21,
        "retired 'old' is also in renamed_from of destination 'team'"),
    "tab": (VALID.replace("    condition: PTSD\n", "\tcondition: PTSD\n"), 14,
            "YAML syntax error: a tab character at column 1: YAML indents with spaces only"),
    "key indented too far": (VALID.replace("    condition: PTSD\n", "      condition: PTSD\n"),
                             14, "YAML syntax error: unexpected ':' at column 16: this line is "
                             "indented more than the key above it"),
    "key indented too little": (VALID.replace("    condition: PTSD\n", "   condition: PTSD\n"),
                                14, "YAML syntax error: this line's indentation does not line "
                                "up with the lines above it (the block it belongs to starts "
                                "on line 13)"),
    "unclosed quote": ('queries:\n  - id: "a\n    condition: A\n', 2,
                       "YAML syntax error: a quote opened on line 2 is never closed"),
    "duplicate yaml key": (VALID.replace("    condition: PTSD\n",
                                         "    condition: PTSD\n    condition: again\n"), 15,
                           "YAML syntax error"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_yaml_is_one_clear_line_with_exit_2(env, case):
    text, line, message = BAD[case]
    path = env.write_queries(text)
    for command in (["validate"], ["run", "--once"]):
        result = env.cli(*command)
        assert result.exit_code == 2, (case, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
        errors = result.stderr.strip().splitlines()
        assert errors, case
        assert errors[0].startswith(f"{path}:{line}: "), (case, errors)
        assert message in errors[0], (case, errors)
        assert not env.server.requests, "nothing may be polled with invalid queries"


#: "Billion laughs": ten lines whose aliases copied out are 9**7 (4.8 million) values.
ALIAS_BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
queries:
  - id: laughs
    condition: *g
    sources:
      pubmed:
        terms: ketamine[tiab]
"""


#: `watcher validate` in a child that writes its own peak resident memory (VmHWM: this process
#: image's, after exec; ru_maxrss would also count the parent's pages the child was forked with,
#: which grow as the suite runs) to the file named by its first argument.
VALIDATE_REPORTING_PEAK = """
import atexit, sys

def peak(path):
    with open("/proc/self/status") as status, open(path, "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))

atexit.register(peak, sys.argv[1])
sys.argv = ["watcher", "validate"]
from watcher.cli import main
main()
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_a_yaml_alias_bomb_is_refused_in_one_line_without_expanding_it(env, tmp_path):
    """`watcher validate` on a billion-laughs file: exit 2 and one `path:line:` error, from a
    process whose peak memory stays that of an ordinary run (copying the aliases out before
    the error used to take seconds and 300 MB)."""
    path = env.write_queries(ALIAS_BOMB)
    peak = tmp_path / "peak"
    process = subprocess.run([sys.executable, "-c", VALIDATE_REPORTING_PEAK, str(peak)],
                             cwd=ROOT, env={**os.environ, **env.vars()}, capture_output=True,
                             text=True, timeout=120)
    assert process.returncode == 2, process.stderr
    assert process.stderr.strip() == (
        f"{path}:6: YAML aliases here repeat more than 200,000 values (an alias bomb?): write "
        "the values out instead")
    assert process.stdout == ""
    assert int(peak.read_text()) < 150_000, f"peak {peak.read_text()} kB"  # about 60 MB


def test_yaml_aliases_of_a_shared_value_still_load(env):
    env.write_queries(VALID.replace("    destinations: [team]\n", "    destinations: &to [team]\n")
                      + "  - id: pain\n    condition: Pain\n    intervention: ketamine\n"
                        "    destinations: *to\n    sources:\n      pubmed:\n"
                        "        terms: pain[tiab]\n")
    cfg = env.config()
    assert cfg.query("pain").destinations == cfg.query("ptsd").destinations == ("team",)


def test_six_hundred_queries_merging_one_shared_block_still_load(env):
    """A large but honest file: every query merges the first one's terms, routes and filters
    (`<<: *first`), about twenty values each time. Only a bomb's millions are refused."""
    first = ("  - &first\n    id: q0\n    condition: Condition 0\n    intervention: ketamine\n"
             "    destinations: [team]\n    sources:\n      pubmed:\n"
             "        terms: ketamine[tiab]\n    filters:\n"
             "      exclude_publication_types: [Comment, Editorial, Letter, News]\n"
             "      label_publication_types: [Review, Randomized Controlled Trial, "
             "Meta-Analysis, Clinical Trial]\n")
    others = "".join(f"  - <<: *first\n    id: q{n}\n    condition: Condition {n}\n"
                     for n in range(1, 600))
    env.write_queries(VALID.split("queries:\n")[0] + "queries:\n" + first + others)
    result = env.cli("validate")
    assert result.exit_code == 0, result.stderr[:500]
    assert len(env.config().queries) == 600


def test_duplicate_query_id_across_files_names_both(env):
    env.write_queries(VALID, "a.yaml")
    second = env.write_queries(
        "queries:\n  - id: other\n    condition: Other\n    sources:\n      pubmed:\n"
        "        terms: x\n  - id: ptsd\n    condition: Again\n    sources:\n      pubmed:\n"
        "        terms: y\n", "b.yaml")
    result = env.cli("validate")
    assert result.exit_code == 2
    assert re.match(rf"{re.escape(str(second))}:7: duplicate query id 'ptsd' \(first defined in "
                    rf".*a\.yaml\)", result.stderr.strip())


def _every_kind() -> str:
    """"'slack', 'slack_webhook', 'email' or 'terminal'": every registered kind, in the
    registry's order (a new kind joins the message without a test to edit)."""
    from watcher.destinations import KINDS

    *others, last = (repr(kind) for kind in KINDS)
    return f"{', '.join(others)} or {last}"


#: A destination's YAML -> every problem reported for it (line 2 of the file): each kind's
#: module checks its own fields, and the registry's union reads as one model did.
DESTINATION_PROBLEMS = {
    "{kind: slack}": ["destinations.d: a slack destination needs 'channel' (for example "
                      "'#ketamine-watch')"],
    "{kind: slack, to: [a@b.co]}": ["destinations.d: a slack destination needs 'channel' (for "
                                    "example '#ketamine-watch')"],
    "{kind: slack, channel: '#x', to: [a@b.co]}": [
        "destinations.d: 'to' only applies to kind email, not slack"],
    "{kind: slack, channel: '#x', to: []}": [],
    "{kind: slack, chanel: '#x'}": ["unknown key 'chanel' in destinations.d (did you mean "
                                    "'channel'?)"],
    "{kind: slack, channel: 5}": ["destinations.d.channel: wrong type: input should be a valid "
                                  "string, got a number 5"],
    "{kind: x, channel: 5}": [
        "destinations.d.channel: wrong type: input should be a valid string, got a number 5",
        f"destinations.d.kind: input should be {_every_kind()}, got 'x'"],
    "{channel: '#x', max_items: 0}": [
        "destinations.d.max_items: Input should be greater than or equal to 1",
        "missing required field 'kind' in destinations.d"],
    "5": ["destinations.d: wrong type: input should be a valid dictionary or instance of "
          "destination, got a number 5"],
    "{kind: email}": ["destinations.d: an email destination needs 'to' (a list of addresses)"],
    "{kind: email, channel: '#x'}": ["destinations.d: an email destination needs 'to' (a list "
                                     "of addresses)"],
    "{kind: email, to: [notanaddress]}": ["destinations.d: 'notanaddress' is not an email "
                                          "address"],
    "{kind: email, to: [a@b.co], channel: ''}": [],
    "{kind: email, to: [a@b.co], channel: 5}": ["destinations.d.channel: wrong type: input "
                                                "should be a valid string, got a number 5"],
    "{kind: email, to: [a@b.co], sned_empty: true}": [
        "unknown key 'sned_empty' in destinations.d (did you mean 'send_empty'?)"],
    "{kind: slack_webhook, channel: '#x'}": [
        "destinations.d: 'channel' only applies to kind slack, not slack_webhook"],
    "{kind: terminal, to: [x]}": ["destinations.d: 'to' only applies to kind email, not "
                                  "terminal"],
}


@pytest.mark.parametrize("destination", sorted(DESTINATION_PROBLEMS))
def test_destination_problems_name_the_field_and_the_kind(tmp_path, destination):
    (tmp_path / "q.yaml").write_text(f"destinations:\n  d: {destination}\nqueries: []\n")
    try:
        config.load(tmp_path)
        problems = []
    except ConfigError as exc:
        problems = exc.problems
    assert problems == [f"{tmp_path / 'q.yaml'}:2: {message}"
                        for message in DESTINATION_PROBLEMS[destination]]


def test_each_destination_kind_is_one_module_discriminated_by_its_own_kind():
    """The registry's union picks a destination's model by ``kind``: each module's SPEC names
    the kind its model's Literal accepts, so a kind is declared in one place."""
    from typing import Literal

    from watcher.destinations import KINDS

    assert {"slack", "slack_webhook", "email", "terminal"} <= set(KINDS)  # the shipped kinds
    for kind, spec in KINDS.items():
        assert spec.kind == kind
        assert spec.options.model_fields["kind"].annotation == Literal[kind]


def test_a_destination_problem_points_at_its_own_line(tmp_path):
    (tmp_path / "q.yaml").write_text("destinations:\n  d:\n    kind: email\n    to:\n"
                                     "      - a@b.co\n      - 5\n    chanel: x\nqueries: []\n")
    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path)
    path = tmp_path / "q.yaml"
    assert caught.value.problems == [
        f"{path}:6: destinations.d.to[1]: wrong type: input should be a valid string, got a "
        "number 5",
        f"{path}:7: unknown key 'chanel' in destinations.d (did you mean 'channel'?)"]


def test_every_problem_is_reported_not_just_the_first(env):
    env.write_queries(VALID.replace("Europe/London", "Nowhere/Town"), "a.yaml")
    env.write_queries("[]\n", "b.yaml")
    result = env.cli("validate")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert any("a.yaml:11: " in line for line in lines)
    assert any("b.yaml:1: " in line for line in lines)


def test_missing_queries_folder_is_a_usage_error(env, tmp_path):
    result = env.cli("validate", WATCHER_QUERIES=str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "queries folder not found" in result.stderr


def test_disabled_source_and_query_are_not_watched(env):
    env.write_queries(VALID.replace("        terms: PTSD[tiab]\n",
                                    "        terms: PTSD[tiab]\n        enabled: false\n")
                      + "  - id: off\n    condition: Off\n    enabled: false\n    sources:\n"
                        "      pubmed:\n        terms: x\n")
    cfg = env.config()
    assert [q.id for q in cfg.queries] == ["ptsd"]
    assert cfg.queries[0].sources == {}


def test_queries_load_from_many_threads_at_once(tmp_path):
    """serve's jobs and concurrent deliveries each load the YAML; a shared parser garbled it."""
    import shutil

    folder = tmp_path / "queries"
    shutil.copytree(ROOT / "queries", folder)
    errors: list[Exception] = []

    def load() -> None:
        for _ in range(5):
            try:
                config.load(folder)
            except Exception as exc:  # collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_renamed_from_takes_a_name_or_a_list(env):
    env.write_queries(VALID.replace('    channel: "#watch"\n',
                                    '    channel: "#watch"\n    renamed_from: weekly\n'
                                    '  other:\n    kind: terminal\n'
                                    '    renamed_from: [daily, hourly, daily]\n'))
    assert env.config().renames() == {"weekly": "team", "daily": "other", "hourly": "other"}
    shown = env.cli("validate")
    assert shown.exit_code == 0 and "renamed from daily, hourly" in shown.stdout


@pytest.mark.hostile
def test_terminal_is_a_reserved_destination_name(env):
    path = env.write_queries("destinations:\n  terminal:\n    kind: terminal\nqueries: []\n")
    result = env.cli("validate")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:2: the destination name 'terminal' is reserved")


def test_one_bad_timezone_is_one_error_not_one_per_query(env):
    """The shipped queries with one typo in a destination's timezone: that one line, not a
    false "unknown destination" for every query routed to a destination of the failed file."""
    for shipped in (ROOT / "queries").glob("*.yaml"):
        text = shipped.read_text(encoding="utf-8")
        env.write_queries(text.replace("Europe/London", "Europe/Londn", 1), shipped.name)
    result = env.cli("validate")
    assert result.exit_code == 2
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, errors
    assert "unknown time zone 'Europe/Londn'" in errors[0]
    assert errors[0].startswith(str(env.queries / "destinations.yaml") + ":")


def test_a_truly_unknown_destination_is_still_reported_beside_a_failed_file(env):
    """A name no file declares is an error of its own, even while another file fails."""
    env.write_queries(VALID.split("queries:")[0].replace("Europe/London", "Mars/Olympus"),
                      "destinations.yaml")
    env.write_queries("queries:\n  - id: a\n    condition: A\n    destinations: [tema]\n"
                      "    sources:\n      pubmed:\n        terms: x[tiab]\n", "q.yaml")
    errors = env.cli("validate").stderr.strip().splitlines()
    assert len(errors) == 2, errors
    assert "unknown time zone" in errors[0] and "unknown destination 'tema'" in errors[1]
