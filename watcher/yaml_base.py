"""The base every YAML model is built on: a leaf that imports nothing of watcher.

Config, schedules, sources and destinations all build their options on these, so none of them
has to import another to describe its part of a saved query.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """YAML models: unknown keys are errors (a typo must not silently switch something off)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
