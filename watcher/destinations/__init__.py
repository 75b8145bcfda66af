"""Destination registry: the one place a new destination kind is plugged in.

Each kind is one module exposing ``SPEC`` (kind, YAML options model with its checks, settings
read from its own environment variables and what they must provide, sender factory, preview
renderer). The YAML schema (:data:`Destination`, which config.py uses), the settings
(``Settings.destinations``), delivery, health and status all read this registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Tag, create_model, model_validator

from ..variables import EnvSettings
from . import email, slack, slack_webhook, terminal
from .base import (
    Context,
    DestinationOptions,
    DestinationSpec,
    Disabled,
    Found,
    Part,
    RecoversSent,
    Sender,
)

#: What the YAML validates a destination as when its kind is missing or unknown: every kind's
#: fields, so every problem in it is reported at once (and the error names 'destination').
UNKNOWN_KIND = "Destination"


def _registry(*specs: DestinationSpec) -> dict[str, DestinationSpec]:
    """kind -> spec, each options model taking the other kinds' fields too (only when empty,
    checked after the kind's own checks), so that a field written under the wrong kind says
    which kind it belongs to."""
    own = {spec.kind: {name: info for name, info in spec.options.model_fields.items()
                       if name not in DestinationOptions.model_fields} for spec in specs}
    found = {}
    for spec in specs:
        foreign: dict[str, tuple[list[str], Any]] = {}
        for kind, fields in own.items():
            for name, info in fields.items():
                if name not in spec.options.model_fields:  # a field two kinds share is its own
                    foreign.setdefault(name, ([], info))[0].append(kind)
        model: Any = create_model(  # type: ignore[call-overload]
            spec.options.__name__, __base__=spec.options, __module__=spec.options.__module__,
            __validators__={"_only_its_own_fields": model_validator(mode="after")(
                DestinationOptions.only_its_own_fields)},
            **{name: (info.annotation, None) for name, (_, info) in foreign.items()})
        model.FOREIGN = {name: " or ".join(kinds) for name, (kinds, _) in foreign.items()}
        found[spec.kind] = replace(spec, options=model)
    return found


#: YAML destination kind -> spec, in the order the YAML's error messages list them.
KINDS: dict[str, DestinationSpec] = _registry(
    slack.SPEC,
    slack_webhook.SPEC,
    email.SPEC,
    terminal.SPEC,
)


def _any_kind() -> type[DestinationOptions]:
    fields: dict[str, Any] = {name: (info.annotation, None) for spec in KINDS.values()
                              for name, info in spec.options.model_fields.items()
                              if name not in DestinationOptions.model_fields}
    return create_model(UNKNOWN_KIND, __base__=DestinationOptions,
                        kind=(Literal[tuple(KINDS)], ...), **fields)  # type: ignore[call-overload]


def _kind_of(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if isinstance(kind, str) and kind in KINDS else UNKNOWN_KIND


#: A destination in the YAML: the model of its ``kind``.
Destination = Annotated[
    Union[tuple(Annotated[spec.options, Tag(kind)] for kind, spec in KINDS.items())  # noqa: UP007
          + (Annotated[_any_kind(), Tag(UNKNOWN_KIND)],)],
    Discriminator(_kind_of)]


def options_models() -> list[type[DestinationOptions]]:
    """Every destination model (for the YAML's 'did you mean' hints)."""
    return [spec.options for spec in KINDS.values()]


def _settings_by_kind(make: Callable[[type[EnvSettings]], EnvSettings]) -> dict[str, EnvSettings]:
    """Each kind's settings, made once per settings class: kinds that share a class (the two
    Slack kinds) share one value, so each variable is read, and reported, once."""
    made = {cls: make(cls) for cls in dict.fromkeys(spec.settings for spec in KINDS.values())}
    return {kind: made[spec.settings] for kind, spec in KINDS.items()}


def default_settings() -> dict[str, EnvSettings]:
    """Every kind's settings with nothing set (``Settings()``)."""
    return _settings_by_kind(lambda cls: cls())


def settings_from_env(env: Mapping[str, str], problems: list[str]) -> dict[str, EnvSettings]:
    """Every kind's settings read from *env*, each bad variable added to *problems*."""
    return _settings_by_kind(lambda cls: cls.from_env(env, problems))


#: Every variable a destination kind reads, each once.
VARIABLES = tuple(dict.fromkeys(variable for spec in KINDS.values()
                                for variable in spec.settings.variables.values()))


def secrets_in(env: Mapping[str, str]) -> tuple[str, ...]:
    """The secret values of the destinations' variables as set, read without checking them."""
    return tuple(secret for variable in VARIABLES for secret in variable.secrets(variable.raw(env)))


def build_sender(destination: DestinationOptions, settings: EnvSettings, context: Context
                 ) -> Sender:
    """Return a sender for *destination*, given its kind's *settings*, or raise Disabled
    saying what the environment is missing."""
    spec = KINDS[destination.kind]
    missing = spec.missing(settings)
    if missing:
        raise Disabled(missing)
    return spec.factory(destination, settings, context)


__all__ = ["KINDS", "UNKNOWN_KIND", "VARIABLES", "Context", "Destination",
           "DestinationOptions", "DestinationSpec", "Disabled", "Found", "Part", "RecoversSent",
           "Sender", "build_sender", "default_settings", "options_models", "secrets_in",
           "settings_from_env"]
