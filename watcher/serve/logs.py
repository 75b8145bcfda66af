"""How `watcher serve` logs: to stdout, one line per event (text, or JSON objects for log
collectors with WATCHER_LOG_FORMAT=json), scrubbed of secrets."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from ..redact import install_log_scrubbing


class JsonFormatter(logging.Formatter):
    """One JSON object per line (WATCHER_LOG_FORMAT=json), for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info or record.exc_text:
            entry["traceback"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    """'2026-12-06T23:55:00+00:00 INFO watcher.serve: ...': the time in UTC, as the JSON lines,
    the database and every message give it. The default (local time, no zone) put a worker in
    a non-UTC zone on another hour, or another day, than the times its lines quote."""

    converter = time.gmtime

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s",
                         datefmt="%Y-%m-%dT%H:%M:%S+00:00")


def configure_logging(log_format: str, debug: bool = False) -> None:
    """serve logs to stdout, one line per event, scrubbed of secrets."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, handlers=[handler],
                        force=True)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    install_log_scrubbing()
