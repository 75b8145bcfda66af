"""The archive's file names, in one leaf module: the site writes its pages under them and a
digest links to them (WATCHER_ARCHIVE_URL), so a link never points at a page of another name."""

from __future__ import annotations

import hashlib
import re


def slug(name: str) -> str:
    """A file name for a condition: readable, and unique through a short hash of the name."""
    words = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return f"{words or 'condition'}-{hashlib.sha1(name.encode()).hexdigest()[:6]}"


def condition_page(name: str) -> str:
    return f"condition-{slug(name)}.html"


def study_page(study_id: int) -> str:
    return f"study-{study_id}.html"


def digest_page(digest_id: int) -> str:
    return f"digest-{digest_id}.html"
