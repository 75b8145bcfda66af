"""Environment variables declared with `Variable` (watcher/variables.py): each kind's check and
message, secrets never echoed, and a settings class read from its own variables."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from watcher.variables import EnvSettings, Variable


def read(variable: Variable, value: str | None) -> tuple[object, list[str]]:
    problems: list[str] = []
    env = {} if value is None else {variable.name: value}
    return variable.read(env, problems), problems


def test_unset_or_blank_is_the_default_and_a_value_is_stripped():
    assert read(Variable.text("A", "d"), None) == ("d", [])
    assert read(Variable.text("A", "d"), "   ") == ("d", [])
    assert read(Variable.text("A"), " x ") == ("x", [])


@pytest.mark.parametrize("variable, value, message", [
    (Variable.number("N", 1.0, zero_ok=False), "0",
     "N='0' is not a number of seconds (more than 0)"),
    (Variable.number("N", 1.0, zero_ok=True, unit="hours"), "-1",
     "N='-1' is not a number of hours (0 or more)"),
    (Variable.number("N", None, zero_ok=False), "inf",
     "N='inf' is not a number of seconds (more than 0)"),
    (Variable.port("P", 587), "70000", "P='70000' is not a port number (1-65535)"),
    (Variable.choice("C", ("text", "json"), "text"), "XML", "C='XML' must be one of text, json"),
    (Variable.http_url("U", "https://d/"), "ftp://bob:pw@host/",
     "U='ftp://***@host/' is not an http(s) URL with a host"),
    (Variable.http_url("U", secret=True), "hooks/secret", "U is not an http(s) URL with a host"),
])
def test_a_bad_value_is_one_problem_and_the_default_is_kept(variable, value, message):
    assert read(variable, value) == (variable.default, [message])


def test_good_values_are_read_as_their_kind():
    assert read(Variable.number("N", 1.0, zero_ok=True), "0") == (0.0, [])
    assert read(Variable.port("P", 587), "465") == (465, [])
    assert read(Variable.choice("C", ("text", "json"), "text"), "JSON") == ("json", [])
    assert read(Variable.http_url("U"), "http://127.0.0.1:8080/") == ("http://127.0.0.1:8080/",
                                                                      [])


@dataclass(frozen=True)
class Service(EnvSettings):
    url: str = "https://service.example/"
    key: str | None = field(default=None, repr=False)
    rate: float = 1.0

    variables = {
        "url": Variable.http_url("SERVICE_URL", "https://service.example/"),
        "key": Variable.text("SERVICE_KEY", secret=True),
        "rate": Variable.number("SERVICE_RATE", 1.0, zero_ok=False),
    }


def test_a_settings_class_reads_its_variables_and_reports_every_bad_one():
    problems: list[str] = []
    Service.from_env({"SERVICE_URL": "nope", "SERVICE_RATE": "x"}, problems)
    assert problems == ["SERVICE_URL='nope' is not an http(s) URL with a host",
                        "SERVICE_RATE='x' is not a number of seconds (more than 0)"]
    good = Service.from_env({"SERVICE_URL": "https://u:pw@h/", "SERVICE_KEY": "k1"}, [])
    assert (good.url, good.key, good.rate) == ("https://u:pw@h/", "k1", 1.0)
    assert "k1" not in repr(good)


def test_secrets_are_the_secret_values_and_url_passwords_whether_checked_or_not():
    env = {"SERVICE_URL": "https://u:pw@h/", "SERVICE_KEY": "k1"}
    assert set(Service.from_env(env, []).secrets()) == {"k1", "pw"}
    assert set(Service.secrets_in(env)) == {"k1", "pw"}
    bare = Service.from_env(env, []).without_secrets()
    assert bare.key is None and bare.url == "https://u:pw@h/"
    with pytest.raises(TypeError, match="unknown settings"):
        bare.with_(nope=1)
    assert bare.with_(rate=5.0).rate == 5.0


def test_each_source_s_settings_are_its_own_and_changed_one_source_at_a_time():
    """Settings.sources holds each registered source's settings, read from the variables its
    module declares; the demo points one source elsewhere with with_source."""
    from watcher.settings import SECRET_VARIABLES, Settings
    from watcher.sources import PRIORITY, REGISTRY

    settings = Settings.from_env({"NCBI_API_KEY": "key-1", "WATCHER_CTGOV_RATE": "5"})
    assert set(settings.sources) == set(REGISTRY) == set(PRIORITY)
    assert settings.source("pubmed").api_key == "key-1"
    assert settings.source("clinicaltrials").rate == 5.0
    assert "key-1" not in repr(settings) and "key-1" in settings.secrets()
    assert "NCBI_API_KEY" in SECRET_VARIABLES
    assert settings.without_secrets().source("pubmed").api_key is None
    moved = settings.with_source("isrctn", url="http://127.0.0.1:9/", rate=50.0)
    assert (moved.source("isrctn").url, moved.source("isrctn").rate) == ("http://127.0.0.1:9/",
                                                                         50.0)
    assert settings.source("isrctn").rate == 1.0, "the original is unchanged"
    assert PRIORITY[:3] == ("pubmed", "clinicaltrials", "europepmc"), "trust, most first"


def test_each_destination_kind_s_settings_are_its_own_and_the_slack_kinds_share_theirs():
    """Settings.destinations holds each registered kind's settings, read from the variables its
    module declares; the two Slack kinds share one class, so a variable is read (and a bad
    value reported) once, and a change through one kind is seen by the other."""
    from watcher.destinations import KINDS
    from watcher.errors import ConfigError
    from watcher.settings import SECRET_VARIABLES, Settings

    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SMTP_PASSWORD": "pw-2",
                                  "SMTP_HOST": "mail.example.org", "SMTP_TLS": "SSL",
                                  "SLACK_API_URL": "https://u:pw-3@slack.example/api/"})
    assert set(settings.destinations) == set(KINDS)
    slack = settings.destination("slack")
    assert slack is settings.destination("slack_webhook")
    assert (slack.bot_token, slack.interval, slack.webhook_url) == ("xoxb-1", 1.0, None)
    email = settings.destination("email")
    assert (email.host, email.port, email.tls, email.password) == ("mail.example.org", 587,
                                                                   "ssl", "pw-2")
    assert "xoxb-1" not in repr(settings) and "pw-2" not in repr(settings)
    assert {"xoxb-1", "pw-2", "pw-3"} <= set(settings.secrets())
    assert {"SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL", "SMTP_PASSWORD"} <= set(SECRET_VARIABLES)

    bare = settings.without_secrets()
    assert bare.destination("slack").bot_token is None
    assert (bare.destination("email").host, bare.destination("email").password) == (None, None)
    assert bare.destination("slack").api_url == "https://u:pw-3@slack.example/api/"

    quick = settings.with_destination("slack_webhook", interval=0.0)
    assert quick.destination("slack").interval == 0.0, "one variable, one value"
    assert settings.destination("slack").interval == 1.0, "the original is unchanged"
    with pytest.raises(TypeError, match="unknown settings"):
        settings.with_destination("email", token="x")

    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"WATCHER_SLACK_INTERVAL": "-1", "SMTP_PORT": "0"})
    assert str(caught.value).count("WATCHER_SLACK_INTERVAL") == 1
    assert "SMTP_PORT='0' is not a port number (1-65535)" in str(caught.value)


def test_what_a_destination_kind_lacks_is_read_from_its_own_settings():
    from watcher.destinations import KINDS
    from watcher.settings import Settings

    empty = Settings.from_env({})
    missing = {kind: KINDS[kind].missing(empty.destination(kind)) for kind in KINDS}
    assert {kind: missing[kind] for kind in ("slack", "slack_webhook", "email", "terminal")} == {
        "slack": "SLACK_BOT_TOKEN not set", "slack_webhook": "SLACK_WEBHOOK_URL not set",
        "email": "SMTP_HOST and WATCHER_EMAIL_FROM not set", "terminal": None}
    ready = empty.with_destination("email", host="h", sender="a@b.org")
    assert KINDS["email"].missing(ready.destination("email")) is None
