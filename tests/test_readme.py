"""The README is the operator's manual: its commands, environment variables, defaults, YAML
example and layout must match the code, so an edit to either that makes them disagree fails."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest

from tests.helpers import ROOT
from watcher import config as config_module
from watcher.cli import main
from watcher.destinations import KINDS
from watcher.digest import SourceReceipt
from watcher.render.common import receipt_sentence
from watcher.settings import Settings, secrets_in_env
from watcher.sources import REGISTRY

README = (ROOT / "README.md").read_text(encoding="utf-8")
SETTINGS_SOURCE = (ROOT / "watcher" / "settings.py").read_text(encoding="utf-8")
#: Settings fields that are not read from the environment (internal tuning).
NOT_FROM_ENV = {"overlap_days", "sources", "destinations"}
#: Variables each source declares for its own settings -> (source, settings field).
SOURCE_VARIABLES = {variable.name: (name, field_name) for name, spec in REGISTRY.items()
                    for field_name, variable in spec.settings.variables.items()}
#: Variables each destination kind declares for its own settings -> (kind, settings field).
DESTINATION_VARIABLES = {variable.name: (kind, field_name) for kind, spec in KINDS.items()
                         for field_name, variable in spec.settings.variables.items()}


def env_variables_read() -> set[str]:
    """Every variable name Settings.from_env reads (get, seconds), the sources' and the
    destination kinds' own included."""
    return (set(re.findall(r'(?:get|seconds)\("([A-Z][A-Z0-9_]+)"', SETTINGS_SOURCE))
            | set(SOURCE_VARIABLES) | set(DESTINATION_VARIABLES))


def table_rows() -> dict[str, tuple[str, str]]:
    """README table rows `| var | default | meaning |` -> {var: (default, meaning)}, with a row
    naming several variables and defaults (`A`, `B` | x, y) split into one entry each."""
    rows: dict[str, tuple[str, str]] = {}
    for line in README.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])
        if not names:
            continue
        defaults = [d.strip() for d in cells[1].split(", ")] if len(names) > 1 else [cells[1]]
        if len(defaults) != len(names):
            defaults = [cells[1]] * len(names)
        for name, default in zip(names, defaults, strict=True):
            rows[name] = (default.strip("`"), cells[2])
    return rows


def test_every_variable_the_code_reads_is_in_a_readme_table_and_nothing_else_is():
    read = env_variables_read()
    assert len(read) > 20  # the pattern still finds them
    documented = set(table_rows())
    assert read - documented == set(), "read by watcher/settings.py but not in the README"
    assert documented - read == set(), "in the README's tables but never read"


@pytest.mark.parametrize("field_name", [f.name for f in fields(Settings)
                                        if f.name not in NOT_FROM_ENV])
def test_readme_defaults_match_settings(field_name):
    """Each documented default is the value Settings has when the variable is unset."""
    value = getattr(Settings.from_env({}), field_name)
    names = [n for n in env_variables_read() if _field_for(n) == field_name]
    assert names, f"no environment variable sets Settings.{field_name}"
    _assert_documented_default(names[0], value)


@pytest.mark.parametrize("variable", sorted(SOURCE_VARIABLES))
def test_readme_defaults_match_each_source_s_settings(variable):
    """Likewise for the variables a source declares: its settings' value when unset."""
    source, field_name = SOURCE_VARIABLES[variable]
    _assert_documented_default(variable, getattr(Settings.from_env({}).source(source),
                                                 field_name))


@pytest.mark.parametrize("variable", sorted(DESTINATION_VARIABLES))
def test_readme_defaults_match_each_destination_kind_s_settings(variable):
    """Likewise for the variables a destination kind declares."""
    kind, field_name = DESTINATION_VARIABLES[variable]
    _assert_documented_default(variable, getattr(Settings.from_env({}).destination(kind),
                                                 field_name))


def _assert_documented_default(name: str, value: object) -> None:
    default, _meaning = table_rows()[name]
    if value is None:
        assert default in ("unset", "NCBI's"), (name, default)
    elif isinstance(value, float):
        assert float(default) == value, (name, default)
    else:
        assert default == str(value), (name, default)


def _field_for(variable: str) -> str | None:
    """The Settings field a variable fills, read from from_env's source."""
    read_first = {"WATCHER_LOG_FORMAT": "log_format"}  # via a local
    match = re.search(rf'(\w+)=[^\n]*"{variable}"', SETTINGS_SOURCE)
    return read_first.get(variable) or (match.group(1) if match else None)


def test_layout_lists_every_module_of_the_package():
    layout = README.split("## Layout", 1)[1].split("```", 2)[1]
    package = ROOT / "watcher"
    missing = []
    for path in sorted(package.iterdir()):
        if path.name.startswith(("_", ".")) or path.name == "__pycache__":
            continue
        name = path.name + ("/" if path.is_dir() else "")
        if not re.search(rf"^\s+{re.escape(name)}\s", layout, re.M):
            missing.append(name)
    for path in sorted((package / "db").glob("*.py")):
        if not path.name.startswith("_") and not re.search(rf"^\s+{path.name}\s", layout, re.M):
            missing.append(f"db/{path.name}")
    assert missing == []


def test_commands_table_matches_the_cli():
    table = README.split("## Commands", 1)[1].split("\n\n", 2)[1]
    documented = set(re.findall(r"^\| `watcher (\w+)", table, re.M))
    assert documented == set(main.commands)


def test_options_in_commands_table_exist():
    table = README.split("## Commands", 1)[1].split("\n\n", 2)[1]
    for line in table.splitlines():
        match = re.match(r"\| `watcher (\w+)([^`]*)`", line)
        if not match:
            continue
        command = main.commands[match.group(1)]
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        for option in re.findall(r"--[\w-]+", match.group(2)):
            assert option in options, f"watcher {match.group(1)} has no {option}"


def test_readme_test_command_is_what_ci_runs():
    setup = README.split("## What a run does", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", setup, re.S)
    test_command = commands[-1].strip()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()
    assert all("pip install -e '.[test]'" in c for c in commands[:2])
    assert "'.[test]'" in ci


def test_readme_yaml_example_is_valid(tmp_path):
    """The commented example loads as written, with every source it shows."""
    example = re.search(r"```yaml\n(.*?)```", README, re.S).group(1)
    (tmp_path / "example.yaml").write_text(example, encoding="utf-8")
    cfg = config_module.load(tmp_path)
    assert [q.id for q in cfg.queries] == ["chronic-pain"]
    assert set(cfg.queries[0].sources) == {"pubmed", "clinicaltrials", "isrctn", "europepmc"}
    assert set(cfg.destinations) == {"team-slack", "weekly-email"}


# --- defects found while checking the README --------------------------------------------------

def test_password_in_isrctn_url_is_hidden_even_when_settings_fail():
    """secrets_in_env (used when the settings cannot be built) hides the same URL passwords as
    Settings.secrets(), the ISRCTN base included."""
    env = {name: "https://user:pw-" + name.lower() + "@mirror.example.org/"
           for name in ("WATCHER_EUTILS_URL", "WATCHER_CTGOV_URL", "WATCHER_ISRCTN_URL",
                        "WATCHER_EUROPEPMC_URL", "SLACK_API_URL")}
    expected = set(Settings.from_env(env).secrets())
    assert "pw-watcher_isrctn_url" in expected
    assert set(secrets_in_env(env)) == expected


def test_rate_error_names_its_unit():
    from watcher.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"WATCHER_CTGOV_RATE": "0", "WATCHER_ISRCTN_RATE": "x"})
    message = str(caught.value)
    assert "WATCHER_CTGOV_RATE='0' is not a number of requests per second" in message
    assert "WATCHER_ISRCTN_RATE='x' is not a number of requests per second" in message


def test_receipt_for_a_source_not_polled_agrees_with_its_count():
    one = receipt_sentence(SourceReceipt(source="europepmc", label="Europe PMC", not_polled=1))
    many = receipt_sentence(SourceReceipt(source="europepmc", label="Europe PMC", not_polled=3))
    assert one.endswith("(1 query asks for it)")
    assert many.endswith("(3 queries ask for it)")


def test_procfile_is_what_the_readme_says():
    assert "`Procfile` declares the worker: `worker: watcher serve`" in README
    assert (ROOT / "Procfile").read_text(encoding="utf-8").strip() == "worker: watcher serve"
