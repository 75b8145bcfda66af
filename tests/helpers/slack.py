"""Slack test helpers: query YAML with a Slack destination, the environment that points watcher
at the local Slack, what a posted message says, and checks that it is inert."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.fakes.slack import SlackServer, check_message
from tests.helpers import QUERIES_YAML, ROOT
from watcher.render.slack import MAX_HEADER

TEAM = """destinations:
  team:
    kind: slack
    channel: "#ketamine-watch"
defaults:
  destinations: [team]
"""


WITH_SLACK = QUERIES_YAML.replace("defaults:\n", TEAM)


WITH_WEBHOOK = QUERIES_YAML.replace("defaults:\n", TEAM.replace(
    'kind: slack\n    channel: "#ketamine-watch"', "kind: slack_webhook"))


#: What could notify people or tag a channel if Slack read it as markup.
TRIGGERS = ("<!channel>", "<!here>", "<!everyone>", "<@U", "<#C", "<!subteam^")


#: A Slack link `<https://...|label>`; anything else starting with '<' would be markup.
LINK = re.compile(r"<https?://[^|<>\s]+\|[^<>]*>")


QUOTE = re.compile(r"(?:^|\n)> ")  # mrkdwn's quote marker at the start of a line


def slack_vars(slack: SlackServer, **extra: str) -> dict[str, str]:
    return {"SLACK_API_URL": slack.url, "SLACK_BOT_TOKEN": slack.token,
            "WATCHER_SLACK_INTERVAL": "0.05", **extra}


def texts(message) -> list[str]:
    """Every text field of a posted message, fallback included."""
    found = [message.text]
    for block in message.blocks:
        found += [block.get("text", {}).get("text", "")]
        found += [e.get("text", "") for e in block.get("elements", [])]
    return found


def assert_inert(message) -> None:
    for text in texts(message):
        assert not any(t in text for t in TRIGGERS), text[:200]
        bare = QUOTE.sub("\n", LINK.sub("", text))
        assert "<" not in bare and ">" not in bare, text[:200]
    for block in message.blocks:
        for obj in [block.get("text") or {}, *block.get("elements", [])]:
            assert obj.get("type") != "mrkdwn" or obj.get("verbatim") is True, "no auto-parsing"
        if block["type"] == "header":
            assert "\n" not in block["text"]["text"] and len(block["text"]["text"]) <= MAX_HEADER
    assert message.payload["unfurl_links"] is False and message.payload["unfurl_media"] is False
    assert "link_names" not in message.payload and message.text.strip()
    assert check_message(message.payload) is None


def item_ids(slack: SlackServer) -> list[int]:
    return [i for m in slack.messages for i in (m.metadata or {}).get("event_payload", {})
            .get("outbox_ids", [])]


def killed_run(env, slack: SlackServer, nth: int) -> None:
    process = subprocess.Popen([sys.executable, "-m", "watcher", "run", "--once"], cwd=ROOT,
                               env={**os.environ, **env.vars(**slack_vars(slack))},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    slack.kill_after = (process.pid, nth)
    _, err = process.communicate(timeout=60)
    assert process.returncode == -9, err
    assert len(slack.messages) == nth


def delivered_pmids(slack: SlackServer) -> list[str]:
    """The PMIDs of the studies told in full (not the one-line "• " highlights and pointers
    that name a study told in full elsewhere)."""
    lines = [line for m in slack.messages for t in texts(m)[1:] for line in t.splitlines()
             if not line.startswith("•")]
    return re.findall(r"pubmed\.ncbi\.nlm\.nih\.gov/(\d+)/", " ".join(lines))


#: The same channel under its old name, and renamed with (and without) `renamed_from`.
WEEKLY = WITH_SLACK.replace("  team:\n", "  weekly:\n").replace("[team]", "[weekly]")


RENAMED = WITH_SLACK.replace("  team:\n", "  team-weekly:\n    renamed_from: weekly\n").replace(
    "[team]", "[team-weekly]")
