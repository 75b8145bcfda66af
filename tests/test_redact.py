"""Secrets scrubbed in one place: known values (also percent-encoded), secret-shaped values,
the process-wide registry, and log records going through real logging handlers."""

from __future__ import annotations

import io
import logging
from urllib.parse import quote, quote_plus

import pytest

from tests.helpers.delivery import TWO_ROUTES
from watcher.redact import (
    ScrubbingFilter,
    clear_secrets,
    install_log_scrubbing,
    known_secrets,
    register_secrets,
    scrub,
)

API_KEY = "0123456789abcdef0123456789abcdef0123"
WEBHOOK = "https://hooks.slack.com/services/T0AAA/B0BBB/CcCcCcCcCcCcCcCcCcCc"


@pytest.fixture(autouse=True)
def empty_registry():
    clear_secrets()
    yield
    clear_secrets()


# (text, what must be gone, what must stay)
SHAPES = [
    ("GET https://alice:s3cr3t@eutils.example.org/entrez/eutils/ failed", "alice:s3cr3t",
     "https://***@eutils.example.org/entrez/eutils/"),
    ("esearch.fcgi?db=pubmed&api_key=abc123&term=ketamine", "abc123",
     "esearch.fcgi?db=pubmed&api_key=***&term=ketamine"),
    ("form: api-key=abc123&tool=watcher", "abc123", "api-key=***&tool=watcher"),
    ("apikey=abc123 rejected", "abc123", "apikey=*** rejected"),
    ("token=tok-777&channel=C1", "tok-777", "token=***&channel=C1"),
    ("login failed: password=hunter22", "hunter22", "password=***"),
    ('{"error":"API rate limit exceeded","api-key":"203.0.113.9","count":"4","limit":"3"}',
     "203.0.113.9", '"api-key":"***","count":"4","limit":"3"'),
    ('{"api_key": "abc123", "db": "pubmed"}', "abc123", '"api_key": "***", "db": "pubmed"'),
    ("{'token': 'abc123', 'ok': False}", "abc123", "{'token': '***', 'ok': False}"),
    ("Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9.sig", "eyJhbGciOi",
     "Authorization: Bearer ***"),
    ("headers: {'Authorization': 'Basic YWxpY2U6czNjcjN0'}", "YWxpY2U6czNjcjN0",
     "'Authorization': '***'"),
    ("slack said invalid_auth for xoxb-12345-67890-AbCdEfGhIj", "12345-67890",
     "invalid_auth for xoxb-***"),
    ("user token xoxp-1-2-3-abcdef expired", "xoxp-1", "user token xoxp-*** expired"),
    ("socket mode xapp-1-A012-345-beef", "A012", "socket mode xapp-***"),
    (f"could not post to {WEBHOOK}: 404", "T0AAA/B0BBB",
     "could not post to https://hooks.slack.com/services/***: 404"),
    ("url=https%3A%2F%2Fhooks.slack.com%2Fservices%2FT0AAA%2FB0BBB%2FCcCc", "T0AAA", "url="),
]


@pytest.mark.parametrize(("text", "gone", "kept"), SHAPES)
def test_secret_shapes_are_masked_and_the_rest_stays_readable(text, gone, kept):
    scrubbed = scrub(text)
    assert gone not in scrubbed
    assert kept in scrubbed


@pytest.mark.parametrize("form", [API_KEY, WEBHOOK, quote(WEBHOOK, safe=""), quote_plus(WEBHOOK),
                                  quote(WEBHOOK, safe="").replace("%2F", "%2f")])
def test_known_values_are_masked_plain_and_percent_encoded(form):
    text = f"POST https://example.org/relay?target={form}&n=1 answered 500"
    scrubbed = scrub(text, [API_KEY, WEBHOOK])
    assert form not in scrubbed
    assert "T0AAA" not in scrubbed and API_KEY not in scrubbed
    assert scrubbed.startswith("POST https://example.org/relay?target=") and "&n=1" in scrubbed


def test_a_known_value_is_masked_wherever_it_appears():
    # No key=value shape around it: only the value net catches this.
    text = f"NCBI rejected {API_KEY} (and {API_KEY[:8]} is just a prefix)"
    assert scrub(text, [API_KEY]) == f"NCBI rejected *** (and {API_KEY[:8]} is just a prefix)"


def test_a_short_secret_is_masked_only_where_it_stands_alone():
    assert scrub("password pw, pwd and upward; pw", ["pw"]) == "password ***, pwd and upward; ***"


def test_registered_secrets_are_scrubbed_by_any_caller():
    assert known_secrets() == ()
    register_secrets([API_KEY, None, "", "   ", WEBHOOK])
    assert set(known_secrets()) == {API_KEY, WEBHOOK}
    assert scrub(f"key {API_KEY} hook {WEBHOOK}") == "key *** hook ***"


ORDINARY = [
    "PubMed answered HTTP 400: Search Backend failed: Database is not supported: pubmedx",
    "could not reach PubMed (eutils.ncbi.nlm.nih.gov): connection refused",
    "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/esearch.fcgi?db=pubmed&term=ketamine[tiab]",
    "Bearer authentication failed",
    "write to team@example.org about 3 new studies (tokens of appreciation)",
    "queries/depression.yaml:4: unknown key 'termz'",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_left_alone(text):
    assert scrub(text, [API_KEY]) == text


@pytest.mark.parametrize("text", [s[0] for s in SHAPES] + ORDINARY
                         + [f"{API_KEY} in {quote(WEBHOOK, safe='')}", "short pw here"])
def test_scrub_is_idempotent(text):
    once = scrub(text, [API_KEY, WEBHOOK, "pw"])
    assert scrub(once, [API_KEY, WEBHOOK, "pw"]) == once


def _logger_with_handler(name: str) -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logger.propagate = False
    return logger, stream, handler


def test_log_records_from_child_loggers_are_scrubbed_through_the_handler():
    parent, stream, handler = _logger_with_handler("redact_test")
    try:
        register_secrets([API_KEY])
        install_log_scrubbing(parent)
        install_log_scrubbing(parent)  # a second call adds no second filter
        assert sum(isinstance(f, ScrubbingFilter) for f in handler.filters) == 1
        child = logging.getLogger("redact_test.http")
        child.info("retrying %s with %s", "https://alice:s3cr3t@host/x", {"api_key": API_KEY})
        try:
            raise RuntimeError(f"boom for token xoxb-999-888-zzz and {API_KEY}")
        except RuntimeError:
            child.exception("failed while posting to %s", WEBHOOK)
    finally:
        parent.removeHandler(handler)
    output = stream.getvalue()
    assert "INFO: retrying https://***@host/x with {'api_key': '***'}" in output
    assert "ERROR: failed while posting to https://hooks.slack.com/services/***" in output
    assert "RuntimeError: boom for token xoxb-***" in output, "the traceback is kept, scrubbed"
    for secret in ("s3cr3t", API_KEY, "xoxb-999", "T0AAA"):
        assert secret not in output


def test_install_defaults_to_every_handler_of_the_root_logger():
    root = logging.getLogger()
    saved = root.handlers[:]
    stream = io.StringIO()
    root.handlers = [logging.StreamHandler(stream)]
    try:
        install_log_scrubbing()
        logging.getLogger("watcher.somewhere").warning("slack said %s", "xoxb-1-2-secretpart")
    finally:
        root.handlers = saved
    assert stream.getvalue() == "slack said xoxb-***\n"


def _assert_nowhere(env, secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text
    for path in env.db.parent.iterdir():
        assert secret.encode() not in path.read_bytes(), path.name


@pytest.mark.hostile
def test_user_info_of_an_unreachable_base_url_leaves_no_trace(env, unused_port):
    env.write_queries(TWO_ROUTES)
    base = f"http://watcher:pa55-w0rd-zz@127.0.0.1:{unused_port}/entrez/eutils/"
    result = env.cli("run", "--once", WATCHER_EUTILS_URL=base)
    assert result.exit_code == 1
    status = env.cli("status", WATCHER_EUTILS_URL=base)
    assert "LAST ERROR" in status.stdout
    _assert_nowhere(env, "pa55-w0rd-zz", result.stdout, result.stderr, status.stdout)


@pytest.mark.hostile
def test_an_error_body_echoing_the_base_url_with_user_info_leaves_no_trace(env, corpus_server):
    env.write_queries(TWO_ROUTES)
    base = corpus_server.url.replace("http://", "http://watcher:pa55-w0rd-zz@")
    corpus_server.fail_next(400, times=2, body=f"Bad request for {base}esearch.fcgi?"
                                                "api_key=test-key")
    result = env.cli("run", "--once", WATCHER_EUTILS_URL=base)
    assert result.exit_code == 1 and "HTTP 400" in result.stderr
    status = env.cli("status", WATCHER_EUTILS_URL=base)
    _assert_nowhere(env, "pa55-w0rd-zz", result.stdout, result.stderr, status.stdout)
    _assert_nowhere(env, "test-key", result.stdout, result.stderr, status.stdout)
