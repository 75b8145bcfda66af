"""What an operator types (query terms, cron strings, environment variables, the shell around the
command) is checked before anything runs: each problem is one clear line with exit 2, nothing is
sent, no secret or file content is echoed, and help, pipes and Ctrl-C behave like any tool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from tests.helpers import QUERIES_YAML, ROOT
from watcher import schedules
from watcher.config import Schedule

ONE_QUERY = """\
queries:
  - id: depression
    condition: Depression
    sources:
      pubmed:
        terms: {terms}
"""


def bad_yaml_lines(env, text: str) -> tuple[str, list[str]]:
    """Write *text* as the only queries file; `validate` must fail with exit 2."""
    path = env.write_queries(text)
    result = env.cli("validate")
    assert result.exit_code == 2, result.stdout
    assert "Traceback" not in result.stderr
    return str(path), result.stderr.strip().splitlines()


# --- 1. query terms ----------------------------------------------------------------------------

@pytest.mark.parametrize("terms, message", [
    ("'depression[tiab]) OR (all[sb]'", "the ')' at character 17 closes a parenthesis that was "
                                        "never opened"),
    ("'(depression[tiab] OR mood[tiab]'", "the '(' at character 1 is never closed"),
    ("'\"treatment resistant depression[tiab]'", "double quote at character 1 is never closed"),
    ("'depression[tiab] OR'", "'OR' at character 18 has nothing after it"),
])
def test_a_broken_term_is_a_located_error_and_nothing_is_sent(env, corpus_server, terms,
                                                              message):
    path, lines = bad_yaml_lines(env, ONE_QUERY.format(terms=terms))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:6: queries[0].sources.pubmed.terms: ")
    assert message in lines[0]
    result = env.cli("run", "--once")
    assert result.exit_code == 2 and message in result.stderr
    assert corpus_server.requests == [], "a query that escapes its parentheses must never run"


def test_broken_terms_in_every_terms_field_are_reported_together(env):
    path, lines = bad_yaml_lines(env, """\
interventions:
  ketamine:
    pubmed: '"ketamine[tiab]'
    clinicaltrials: ketamine OR
    europepmc: (ketamine
queries:
  - id: pain
    condition: Pain
    intervention: ketamine
    sources:
      pubmed:
        terms: pain[tiab]
        exclude: rats[tiab])
      clinicaltrials:
        condition: chronic pain)
        intervention: AND esketamine
        terms: ()
      europepmc:
        terms: '"pain'
""")
    where = [line.split(": ", 2)[:2] for line in lines]
    assert where == [
        [f"{path}:3", "interventions.ketamine.pubmed"],
        [f"{path}:4", "interventions.ketamine.clinicaltrials"],
        [f"{path}:5", "interventions.ketamine.europepmc"],
        [f"{path}:13", "queries[0].sources.pubmed.exclude"],
        [f"{path}:15", "queries[0].sources.clinicaltrials.condition"],
        [f"{path}:16", "queries[0].sources.clinicaltrials.intervention"],
        [f"{path}:17", "queries[0].sources.clinicaltrials.terms"],
        [f"{path}:19", "queries[0].sources.europepmc.terms"],
    ]


# --- 2. cron strings the scheduler would read differently from cron ----------------------------

def schedule_error(cron: str, timezone: str = "UTC") -> str:
    with pytest.raises(ValidationError) as caught:
        Schedule(cron=cron, timezone=timezone)
    return str(caught.value)


def test_a_step_in_the_weekday_field_is_refused():
    # APScheduler counts */2 from Monday (mon, wed, fri, sun); cron from Sunday (sun, tue, ...)
    for cron in ("0 9 * * */2", "0 9 * * mon-fri/2", "0 9 * * */1"):
        assert "a step ('/') in the weekday field" in schedule_error(cron), cron


def test_day_of_month_together_with_weekday_is_refused():
    # cron: the 1st of the month OR any Monday; APScheduler: only a Monday that is the 1st
    message = schedule_error("0 9 1 * mon")
    assert "sets both a day of the month (1) and a weekday (mon)" in message
    assert "cron runs on either" in message
    for fine in ("0 9 1 * *", "0 9 * * mon", "0 9 */2 * mon", "0 9 1,15 * *"):
        Schedule(cron=fine)


def test_the_scheduler_itself_fires_twice_when_the_clocks_go_back():
    """Why fixed times in the repeated hour are refused: APScheduler 3.11 fires them twice."""
    trigger = Schedule.model_construct(cron="30 1 * * sun",
                                       timezone="America/New_York").trigger()
    first = trigger.get_next_fire_time(None, datetime(2026, 10, 31, 12, tzinfo=UTC))
    second = trigger.get_next_fire_time(first, first.astimezone(UTC) + timedelta(seconds=1))
    assert [first.astimezone(UTC).hour, second.astimezone(UTC).hour] == [5, 6]
    assert first.date() == second.date() == date(2026, 11, 1)


def test_a_time_that_happens_twice_or_never_is_refused():
    fall_back = schedules.clock_change_problem("30 1 * * sun", "America/New_York",
                                               date(2026, 10, 1))
    assert fall_back == (
        "cron '30 1 * * sun' in America/New_York: 01:30 happens twice on 2026-11-01 when the "
        "clocks go back (01:00-02:00 repeats), so the scheduler would send twice; pick a time "
        "outside 01:00-02:00")
    spring = schedules.clock_change_problem("30 2 * * *", "America/New_York", date(2026, 1, 1))
    assert spring is not None and "02:30 does not exist on 2026-03-08" in spring
    midnight = schedules.clock_change_problem("30 0 * * *", "America/Havana", date(2026, 1, 1))
    assert midnight is not None and "00:30 does not exist on 2026-03-08" in midnight
    london = schedules.clock_change_problem("15 1 * * *", "Europe/London", date(2026, 1, 1))
    assert london is not None and "01:15 does not exist on 2026-03-29" in london
    # and through the YAML: the model checks the coming two years
    assert "happens twice on" in schedule_error("30 1 * * sun", "America/New_York")


@pytest.mark.parametrize("cron, zone", [
    ("0 9 * * mon-fri", "Europe/London"),
    ("30 1 * * mon", "America/New_York"),  # the clocks change on Sundays there
    ("30 3 * * sun", "America/New_York"),
    ("0 * * * *", "America/New_York"),  # every hour: follows the clock as it runs, as cron does
    ("30 1 * * *", "Asia/Tokyo"),  # no daylight saving
    ("30 1 * * *", "UTC"),
])
def test_schedules_clear_of_clock_changes_are_accepted(cron, zone):
    assert schedules.clock_change_problem(cron, zone, date(2026, 1, 1)) is None
    Schedule(cron=cron, timezone=zone)


def fires_on(cron: str, zone: str, day: date) -> list[datetime]:
    """Every firing on *day*, asking the trigger the way the scheduler does (now in UTC)."""
    trigger = Schedule(cron=cron, timezone=zone).trigger()
    fires: list[datetime] = []
    previous, now = None, datetime.combine(day, datetime.min.time(), ZoneInfo(zone))
    while len(fires) < 30:
        fire = trigger.get_next_fire_time(previous, now)
        if fire.astimezone(ZoneInfo(zone)).date() != day:
            break
        fires.append(fire)
        previous, now = fire, fire.astimezone(UTC) + timedelta(seconds=1)
    return fires


def test_accepted_schedules_fire_once_on_both_change_days():
    for day, offset in ((date(2026, 3, 8), -4), (date(2026, 11, 1), -5)):
        fires = fires_on("0 9 * * *", "America/New_York", day)
        assert len(fires) == 1, fires
        assert fires[0].hour == 9 and fires[0].utcoffset() == timedelta(hours=offset)
    # every hour follows the clock as it runs: 23 real hours in March, 25 in November
    assert len(fires_on("0 * * * *", "America/New_York", date(2026, 3, 8))) == 23
    assert len(fires_on("0 * * * *", "America/New_York", date(2026, 11, 1))) == 25


def test_bad_cron_in_yaml_is_a_located_error(env):
    path, lines = bad_yaml_lines(env, QUERIES_YAML.replace("defaults:\n", """destinations:
  team:
    kind: terminal
    schedule: {cron: "0 9 1 * mon", timezone: Europe/London}
defaults:
"""))
    assert lines[0].startswith(f"{path}:4: destinations.team.schedule.cron: cron '0 9 1 * mon' "
                               "sets both")


# --- 3. environment values ---------------------------------------------------------------------

@pytest.mark.parametrize("name, value, message", [
    ("WATCHER_HTTP_TIMEOUT", "0", "WATCHER_HTTP_TIMEOUT='0' is not a number of seconds"),
    ("WATCHER_HTTP_TIMEOUT", "nan", "WATCHER_HTTP_TIMEOUT='nan' is not a number of seconds"),
    ("WATCHER_HTTP_TIMEOUT", "inf", "WATCHER_HTTP_TIMEOUT='inf' is not a number of seconds"),
    ("WATCHER_HTTP_TIMEOUT", "-1", "WATCHER_HTTP_TIMEOUT='-1' is not a number of seconds"),
    ("WATCHER_HTTP_TIMEOUT", "abc", "WATCHER_HTTP_TIMEOUT='abc' is not a number of seconds"),
    ("WATCHER_RETRY_BACKOFF", "-0.5", "WATCHER_RETRY_BACKOFF='-0.5' is not a number of seconds"),
    ("WATCHER_RETRY_BACKOFF", "inf", "WATCHER_RETRY_BACKOFF='inf' is not a number of seconds"),
    ("SMTP_PORT", "99999999", "SMTP_PORT='99999999' is not a port number (1-65535)"),
    ("SMTP_PORT", "25.5", "SMTP_PORT='25.5' is not a port number"),
    ("SMTP_PORT", "0", "SMTP_PORT='0' is not a port number"),
    ("SMTP_TLS", "tls", "SMTP_TLS='tls' must be one of starttls, ssl, none"),
    ("WATCHER_EUTILS_URL", "eutils.example.org", "WATCHER_EUTILS_URL='eutils.example.org' is "
                                                 "not an http(s) URL"),
    ("WATCHER_CTGOV_URL", "ftp://example.org/", "WATCHER_CTGOV_URL='ftp://example.org/'"),
    ("WATCHER_EUROPEPMC_URL", "https:///rest/", "WATCHER_EUROPEPMC_URL='https:///rest/'"),
    ("SLACK_API_URL", "http://example.org:99999/", "SLACK_API_URL='http://example.org:99999/'"),
])
def test_a_bad_environment_value_is_one_line_naming_it(env, name, value, message):
    env.write_queries(QUERIES_YAML)
    result = env.cli("status", **{name: value})
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines


def test_every_bad_environment_value_is_reported_together(env):
    env.write_queries(QUERIES_YAML)
    result = env.cli("validate", WATCHER_HTTP_TIMEOUT="0", WATCHER_RETRY_BACKOFF="nan",
                     SMTP_PORT="99999999", SMTP_TLS="yes", WATCHER_CTGOV_URL="nope")
    assert result.exit_code == 2
    names = sorted(line.split("=")[0] for line in result.stderr.strip().splitlines())
    assert names == ["error: SMTP_PORT", "error: SMTP_TLS", "error: WATCHER_CTGOV_URL",
                     "error: WATCHER_HTTP_TIMEOUT", "error: WATCHER_RETRY_BACKOFF"]


def test_url_errors_never_show_a_secret(env):
    env.write_queries(QUERIES_YAML)
    webhook = "hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
    result = env.cli("status", SLACK_WEBHOOK_URL=webhook,
                     WATCHER_EUTILS_URL="ftp://alice:s3cret-pass@eutils.example.org/")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: WATCHER_EUTILS_URL='ftp://***@eutils.example.org/' is not an http(s) URL with "
        "a host",
        "error: SLACK_WEBHOOK_URL is not an http(s) URL with a host",
    ]
    assert "secret" not in result.stderr and "alice" not in result.stderr


def test_good_environment_values_are_accepted(env):
    settings = env.settings(WATCHER_RETRY_BACKOFF="0", WATCHER_HTTP_TIMEOUT="0.5",
                            SMTP_PORT="465", SMTP_TLS="SSL",
                            SLACK_WEBHOOK_URL="https://hooks.slack.com/services/T/B/x",
                            WATCHER_CTGOV_URL="http://user:pw@127.0.0.1:8080/api/v2/")
    assert (settings.retry_backoff, settings.http_timeout, settings.destination("email").port,
            settings.destination("email").tls) == (0.0, 0.5, 465, "ssl")
    assert "pw" in settings.secrets(), "a password inside a base URL is a secret too"


# --- 4. command-line plumbing ------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--help"], ["--version"], ["status", "--help"],
                                  ["run", "--help"], ["validate", "-h"]])
def test_help_and_version_work_whatever_the_environment_holds(env, args):
    result = env.cli(*args, WATCHER_HTTP_TIMEOUT="0", SMTP_PORT="x", SLACK_API_URL="nope")
    assert result.exit_code == 0, result.stderr
    assert ("Usage:" in result.stdout) or ("version" in result.stdout)
    assert result.stderr == ""


def many_long_queries(env) -> None:
    """A queries folder whose `validate` listing is far larger than a pipe's buffer."""
    condition = "Condition " + "x" * 1000
    env.write_queries("queries:\n" + "".join(
        f"  - id: q{i}\n    condition: {condition}\n    sources:\n      pubmed:\n"
        f"        terms: q{i}[tiab]\n" for i in range(150)))


def test_output_into_a_pipe_closed_early_is_quiet(env):
    many_long_queries(env)
    result = subprocess.run(
        ["sh", "-c", f"'{sys.executable}' -m watcher validate | head -1"], cwd=ROOT,
        env={**os.environ, **env.vars()}, capture_output=True, text=True, timeout=60)
    assert result.stdout == "150 queries in 1 file(s) from " + str(env.queries) + "\n"
    assert result.stderr == "", "no 'internal error', no BrokenPipeError traceback"


def test_output_into_a_pipe_closed_before_writing_is_quiet(env):
    env.write_queries(QUERIES_YAML)  # small output: written only by the final flush
    process = subprocess.Popen([sys.executable, "-m", "watcher", "validate"], cwd=ROOT,
                               env={**os.environ, **env.vars()}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    err = process.stderr.read()
    process.wait(timeout=60)
    assert err == ""


def test_ctrl_c_exits_130_with_one_line(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    corpus_server.slow_next(5, endpoint="esearch")
    process = subprocess.Popen([sys.executable, "-m", "watcher", "run", "--once"], cwd=ROOT,
                               env={**os.environ, **env.vars()}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not corpus_server.calls("esearch") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert corpus_server.calls("esearch"), "the run reached the server"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert err.strip().splitlines() == ["interrupted; anything not finished stays pending"]
    runs = env.store().conn.execute("SELECT status, finished FROM runs").fetchall()
    assert len(runs) == 1 and runs[0][0] == "interrupted" and runs[0][1], \
        "the run is marked interrupted, never left 'running'"


# --- 5. no error echoes a file's contents ------------------------------------------------------

@pytest.mark.parametrize("content", [
    "A" * 2000,
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "'a quoted document that goes on and on'",
    "42",
])
def test_a_file_that_is_one_value_is_described_not_echoed(env, content):
    path, lines = bad_yaml_lines(env, content + "\n")
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:1: expected a mapping at the top level")
    assert lines[0].endswith(("found a text value", "found a number"))
    assert content.strip("'") not in lines[0]


def test_long_wrong_values_in_fields_are_described_not_echoed(env):
    secret = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
    path, lines = bad_yaml_lines(env, QUERIES_YAML.replace(
        "  lookback_days: 30\n", f"  lookback_days: {secret}\n").replace(
        "  - id: everything\n", f"  - id: {secret.upper()}\n") + f"""destinations:
  team:
    kind: {secret}
    schedule: {{cron: "{secret}", timezone: "{secret}"}}
    {secret}: pasted as a key
""")
    assert len(lines) == 6, lines
    assert all(secret.lower() not in line.lower() for line in lines), lines
    assert any(line.startswith(f"{path}:2: defaults.lookback_days: wrong type")
               and line.endswith("got a text value") for line in lines)
    assert any(line.startswith(f"{path}:22: destinations.team.schedule.cron: cron <56 characters "
                               "of text> needs 5 fields") for line in lines)
