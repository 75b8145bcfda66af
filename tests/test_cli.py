"""Commands other than the main job: status, poll, digest, help; destinations that cannot send
keep their items pending and say so."""

from __future__ import annotations

import json

import pytest

from tests.fakes.slack import TOKEN
from tests.helpers import (
    HOSTILE_TITLE,
    QUERIES_YAML,
    SHOWN_TITLE,
    days_ago,
    run_watcher,
    unprintable,
)
from tests.helpers.ctgov import ketamine_trial
from watcher.cli import main
from watcher.fakes.ctgov import CtgovServer

WITH_DESTINATIONS = QUERIES_YAML.replace("defaults:\n", """destinations:
  team:
    kind: slack
    channel: "#watch"
    schedule: {cron: "0 9 * * mon-fri", timezone: Europe/London}
defaults:
  destinations: [team]
""")
EVERYTHING_ONLY = QUERIES_YAML.split("  - id: depression")[0]


def test_destination_without_secret_keeps_items_pending_and_terminal_prints(env,
                                                                          corpus_server):
    env.write_queries(WITH_DESTINATIONS)
    result = env.cli("run", "--once")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 19
    assert "note: team: not sent, SLACK_BOT_TOKEN not set (19 item(s) pending)" in result.stderr
    status = env.cli("status")
    assert "destination team (slack): 19 pending, last sent never" in status.stdout
    assert "destination terminal" not in status.stdout, "no phantom terminal destination"
    assert "-- not sent to team (SLACK_BOT_TOKEN not set); pending:" in result.stdout


def test_status_shows_last_success_and_last_error(env, corpus_server, unused_port):
    env.write_queries(QUERIES_YAML)
    before = env.cli("status")
    assert "everything / PubMed: never polled" in before.stdout
    env.cli("run", "--once")
    env.cli("run", "--once", WATCHER_EUTILS_URL=f"http://127.0.0.1:{unused_port}/")
    status = env.cli("status")
    assert status.exit_code == 0
    line = next(x for x in status.stdout.splitlines() if x.startswith("everything / PubMed"))
    assert "last success 20" in line and "LAST ERROR" in line
    assert "19 studies stored" in status.stdout
    # One outage, one line: the three queries that met it are named there, not listed thrice.
    # (The look-ups after the polls have lines of their own: `look-up Crossref: ...`.)
    polls = [x for x in status.stdout.splitlines() if not x.startswith("look-up ")]
    assert sum("could not reach" in x for x in polls) == 1
    grouped = next(x for x in polls if "could not reach" in x)
    assert grouped.startswith("LAST ERROR of PubMed for 3 queries (everything, depression, "
                              "anxiety): ")


HOSTILE_TRIALS = """\
queries:
  - id: trials
    condition: Depression trials
    sources:
      clinicaltrials:
        condition: depression
        intervention: ketamine
      pubmed:
        terms: ketamine[tiab]
"""


def test_a_title_with_terminal_escapes_is_shown_but_never_acts_on_the_terminal(env, server):
    """A registry title holding clear-screen, a window-title sequence, BEL, backspace and a
    bidi override, and a PubMed error body holding the same: `run --once` (the terminal
    digest, the error on stderr) and `status --study` show the words and not one control."""
    server.fail_next(400, times=5, body=f"bad term {HOSTILE_TITLE}")
    env.write_queries(HOSTILE_TRIALS)
    with CtgovServer() as ctgov:
        trial = ketamine_trial("NCT09000077")
        trial["protocolSection"]["identificationModule"]["briefTitle"] = HOSTILE_TITLE
        ctgov.add_study(trial, updated=days_ago(2))
        run = run_watcher("run", "--once", env=env.vars(WATCHER_CTGOV_URL=ctgov.url))
    assert run.returncode == 1, run.stderr  # PubMed failed; the trial was still told
    assert SHOWN_TITLE in run.stdout, run.stdout
    assert "answered HTTP 400: bad term " + SHOWN_TITLE in " ".join(run.stderr.split())
    assert unprintable(run.stdout) == [] and unprintable(run.stderr) == []
    status = run_watcher("status", "--study", "NCT09000077", env=env.vars())
    assert status.returncode == 0, status.stderr
    assert f"study 1: {SHOWN_TITLE}" in " ".join(status.stdout.split())
    overview = run_watcher("status", env=env.vars())
    assert "LAST ERROR" in overview.stdout and SHOWN_TITLE in " ".join(overview.stdout.split())
    assert unprintable(status.stdout + status.stderr + overview.stdout) == []


def test_right_to_left_titles_keep_their_letters_and_marks_but_lose_overrides():
    """Hebrew and Arabic titles use the marks (RLM, ALM) to place punctuation: they reorder
    nothing and are kept; an override (which can show "fdp.exe" as "exe.pdf") is dropped."""
    from watcher.render.common import printable

    hebrew = "\u05e7\u05d8\u05de\u05d9\u05df (\u05e0\u05d9\u05e1\u05d5\u05d9)\u200f."
    arabic = "\u0627\u0644\u0643\u064a\u062a\u0627\u0645\u064a\u0646\u061c: 2024"
    assert printable(hebrew) == hebrew and printable(arabic) == arabic
    assert printable("Ketamine \u202eevil\u202c \u2066trial\u2069") == "Ketamine evil trial"


def test_poll_queues_without_sending_and_digest_sends_later(env, corpus_server, tmp_path):
    env.write_queries(QUERIES_YAML)
    polled = env.cli("poll")
    assert polled.exit_code == 0
    assert "everything / PubMed" in polled.stdout and "19 new" in polled.stdout
    assert "https://" not in polled.stdout
    preview = tmp_path / "preview.txt"
    shown = env.cli("digest", "--preview", str(preview))
    assert shown.exit_code == 0 and "wrote 19 pending item(s)" in shown.stdout
    assert preview.read_text().count("pubmed.ncbi.nlm.nih.gov/") == 19
    sent = env.cli("digest", "terminal")
    assert sent.stdout.count("pubmed.ncbi.nlm.nih.gov/") == 19
    again = env.cli("digest")
    assert "Nothing new" in again.stdout
    unknown = env.cli("digest", "nowhere")
    assert unknown.exit_code == 2 and "unknown destination 'nowhere'" in unknown.stderr


@pytest.mark.parametrize("command", ["validate", "run", "poll", "digest", "serve", "status",
                                     "demo"])
def test_every_command_has_help(env, command):
    result = env.cli(command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.stdout


def test_run_without_once_is_a_usage_error(env):
    env.write_queries(QUERIES_YAML)
    result = env.cli("run")
    assert result.exit_code == 2 and "--once" in result.stderr


def test_console_script_runs_as_a_module():
    result = run_watcher("--version", env={})
    assert result.returncode == 0 and "watcher, version" in result.stdout
    assert main.name == "main"


def test_bad_numeric_environment_is_a_one_line_configuration_error(env):
    result = env.cli("status", WATCHER_HTTP_TIMEOUT="soon")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: WATCHER_HTTP_TIMEOUT='soon' is not a number of seconds (more than 0)")


def test_validate_says_which_unscheduled_destinations_serve_still_sends(env):
    """An `ops` destination without a schedule hears from `serve` after each job; any other
    unscheduled destination is only sent by `run --once` and `digest`."""
    env.write_queries("""\
destinations:
  ops:
    kind: terminal
  archive:
    kind: terminal
queries:
  - id: d
    condition: Depression
    destinations: [archive]
    sources:
      pubmed:
        terms: depressi*[tiab]
""")
    result = env.cli("validate")
    assert result.exit_code == 0, result.stderr
    assert "- ops: terminal terminal; schedule none (`serve` sends it what each job tells it)" \
        in result.stdout
    assert "- archive: terminal terminal; schedule none (sent by `run --once` and `digest` " \
        "only, never by `serve`)" in result.stdout


def test_previewing_a_renamed_destination_moves_nothing(env, corpus_server, tmp_path):
    """`digest --preview` sends and marks nothing: trying a rename out with it, then undoing
    the edit, leaves the old name's items where they were (not orphaned under a name the
    YAML never kept)."""
    weekly = QUERIES_YAML.replace("defaults:\n", "destinations:\n  weekly:\n    kind: terminal\n"
                                  "defaults:\n  destinations: [weekly]\n")
    env.write_queries(weekly)
    assert env.cli("poll").exit_code == 0
    env.write_queries(weekly.replace("  weekly:\n", "  team-weekly:\n    renamed_from: weekly\n")
                      .replace("[weekly]", "[team-weekly]"))
    preview = tmp_path / "preview.txt"
    shown = env.cli("digest", "team-weekly", "--preview", str(preview))
    assert shown.exit_code == 0 and "wrote 19 pending item(s) for team-weekly" in shown.stdout
    assert preview.read_text().count("pubmed.ncbi.nlm.nih.gov/") == 19

    env.write_queries(weekly)  # the rename undone
    assert env.store().pending_counts() == {"weekly": 19}
    status = env.cli("status")
    assert "destination weekly (terminal): 19 pending" in status.stdout
    assert "ORPHANED" not in status.stdout
    assert env.cli("health").output.strip() == "ok"


def test_a_retired_destination_is_named_as_retired_by_validate_and_digest(env, corpus_server):
    """After `retired: [weekly]`, validate confirms it, and `digest weekly` (or a preview of
    it) says it was retired, not that it is unknown, which reads like a typo."""
    from tests.helpers import TWO_TERMINALS

    env.write_queries(TWO_TERMINALS)
    assert env.cli("poll").exit_code == 0
    env.write_queries(TWO_TERMINALS.replace("  weekly:\n    kind: terminal\n", "")
                      .replace("[weekly, daily]", "[daily]") + "retired: [weekly]\n")
    validate = env.cli("validate")
    assert validate.exit_code == 0
    assert "- weekly: retired (what it still owes is set aside, never sent)" in \
        validate.stdout, validate.stdout
    for args in (("digest", "weekly"), ("digest", "--preview", str(env.tmp / "p.txt"), "weekly")):
        result = env.cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.strip().splitlines() == [
            "error: destination 'weekly' is retired (retired: in the YAML): what it owed is "
            "set aside, never sent"], (args, result.stderr)
    assert env.store().pending_counts() == {"daily": 19, "weekly": 19}, "nothing moved yet"


def test_db_and_queries_options_win_over_the_environment(env, corpus_server, tmp_path):
    """--db and --queries on the command line are used instead of WATCHER_DB / WATCHER_QUERIES
    (which stay the defaults): a second installation read without touching the environment."""
    env.write_queries(QUERIES_YAML)
    other_queries = tmp_path / "other"
    other_queries.mkdir()
    (other_queries / "q.yaml").write_text(EVERYTHING_ONLY, encoding="utf-8")
    other_db = tmp_path / "other.db"
    run = env.cli("run", "--once", "--db", str(other_db), "--queries", str(other_queries))
    assert run.exit_code == 0, run.stderr
    assert other_db.exists() and not env.db.exists(), "the option's database, not the variable's"
    status = env.cli("status", "--db", str(other_db), "--queries", str(other_queries))
    assert "everything / PubMed: last success" in status.stdout
    assert "depression" not in status.stdout, "the option's queries, not the variable's"
    default = env.cli("status")
    assert "everything / PubMed: never polled" in default.stdout, "the variable stays the default"
    validate = env.cli("validate", "--queries", str(other_queries))
    assert validate.exit_code == 0 and "depression" not in validate.stdout
    for command in ("run", "poll", "digest", "status", "reparse", "serve", "health"):
        shown = env.cli(command, "--help").stdout
        assert "--db FILE" in shown and "--queries DIR" in shown, command


def test_a_bad_db_option_is_named_as_the_option(env, tmp_path):
    """An error about the database names what set its path, so the user fixes the right thing."""
    env.write_queries(QUERIES_YAML)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 100, encoding="utf-8")
    result = env.cli("run", "--once", "--db", str(notes))
    assert result.exit_code == 2
    assert f"--db={notes} is not an SQLite database" in result.stderr
    assert "WATCHER_DB" not in result.stderr


def test_status_runs_when_the_yaml_is_invalid(env, corpus_server):
    """When the YAML is broken is when status is most needed: it says so in one line and shows
    what the database holds."""
    env.write_queries(QUERIES_YAML)
    assert env.cli("run", "--once").exit_code == 0
    env.write_queries("queries:\n  - id: broken\n    condition: [\n")
    status = env.cli("status")
    assert status.exit_code == 0, status.stderr
    invalid = [x for x in status.stdout.splitlines() if "is invalid" in x]
    assert len(invalid) == 1 and "`watcher validate`" in invalid[0]
    assert "19 studies stored" in status.stdout
    assert "everything / PubMed: last success 20" in status.stdout
    as_json = json.loads(env.cli("status", "--json").stdout)
    assert as_json["queries"]["valid"] is False and as_json["queries"]["error"]
    assert {row["query"] for row in as_json["sources"]} == {"everything", "depression",
                                                              "anxiety"}


def test_status_json_has_the_documented_shape_and_no_secret(env, corpus_server, unused_port):
    env.write_queries(WITH_DESTINATIONS)
    env.cli("run", "--once")
    env.cli("run", "--once", WATCHER_EUTILS_URL=f"http://127.0.0.1:{unused_port}/")
    result = env.cli("status", "--json", SLACK_BOT_TOKEN="xoxb-secret-token")
    assert result.exit_code == 0
    assert "xoxb-secret-token" not in result.stdout and "test-key" not in result.stdout
    data = json.loads(result.stdout)
    assert data["version"] == 1 and data["database"]["studies"] == 19
    assert data["queries"] == {"folder": str(env.queries), "valid": True, "error": None}
    everything = next(r for r in data["sources"] if r["query"] == "everything")
    assert everything["source"] == "pubmed" and everything["last_success"]
    assert "could not reach" in everything["last_error"]
    team = next(d for d in data["destinations"] if d["name"] == "team")
    assert team["kind"] == "slack" and team["pending"] == 19 and team["last_sent"] is None
    assert team["cannot_send"] is None  # the token is set
    assert data["worker"] is None and data["orphaned"] == [] and data["id_conflicts"] == []


def test_dry_run_with_a_slack_token_says_dry_run_not_token_missing(env, corpus_server, slack):
    """A dry run drops the secrets so it can never post; it used to report that as the token
    being unset, sending the operator to fix a token that is fine."""
    env.write_queries(WITH_DESTINATIONS)
    with_token = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack.url}
    result = env.cli("run", "--once", "--dry-run", **with_token)
    assert result.exit_code == 0, result.stderr
    assert "SLACK_BOT_TOKEN not set" not in result.stderr + result.stdout
    assert "note: team: not sent, dry run (19 item(s) pending)" in result.stderr
    assert slack.messages == [], "a dry run posts nothing"
    without = env.cli("run", "--once", "--dry-run", SLACK_API_URL=slack.url)
    assert "note: team: not sent, dry run; and SLACK_BOT_TOKEN not set" in without.stderr


def test_run_with_no_network_ends_with_a_hint_of_the_offline_demo(env, unused_port):
    """Every source failing to resolve its host is this machine's network, not the sources:
    one last line says so and names the demo. (.invalid never resolves: RFC 6761.)"""
    env.write_queries(QUERIES_YAML)
    offline = env.cli("run", "--once", WATCHER_EUTILS_URL="http://watcher-test.invalid/")
    assert offline.exit_code == 1
    last = offline.stderr.strip().splitlines()[-1]
    assert last == ("note: no source could be reached (no network?); `watcher demo` runs the "
                    "whole pipeline offline")
    refused = env.cli("run", "--once", WATCHER_EUTILS_URL=f"http://127.0.0.1:{unused_port}/")
    assert refused.exit_code == 1 and "watcher demo" not in refused.stderr, \
        "a source that is down is not a missing network"
