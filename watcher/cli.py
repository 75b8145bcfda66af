"""The `watcher` command: a thin layer over watcher.pipeline that turns results into exit codes.

Exit status: 0 success, 1 a source or destination failed (what succeeded is kept), 2 usage or
configuration error. Errors are one line each; --debug shows tracebacks.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import click

from . import __version__, pipeline
from .cli_options import Context, paths, queries_option
from .db import Store
from .errors import ConfigError, WatcherError
from .redact import install_log_scrubbing, register_secrets, scrub
from .render.common import printable
from .settings import Settings, secrets_in_env
from .sources import label


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn WatcherError and surprises into one line on stderr and the right exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool(ctx.obj and ctx.obj.debug)
        try:
            try:
                return func(*args, **kwargs)
            finally:
                sys.stdout.flush()  # a reader that went away shows up here, not at exit
        except BrokenPipeError:
            _reader_gone()
        except WatcherError as exc:
            if debug:
                raise
            for line in scrub(str(exc)).splitlines():
                _say(f"error: {line}" if not _has_location(line) else line, err=True)
            sys.exit(exc.exit_code)
        except click.ClickException:
            raise  # usage errors: click prints them and exits 2
        except KeyboardInterrupt:
            click.echo("interrupted; anything not finished stays pending", err=True)
            sys.exit(130)  # 128 + SIGINT, as shells report it
        except Exception as exc:  # a bug: still one line unless --debug
            if debug:
                raise
            _storage_exit(ctx.obj, exc)  # unless the database's disk failed (reparse, digest)
            secrets = ctx.obj.secrets() if ctx.obj else secrets_in_env()
            message = scrub(" ".join(f"{type(exc).__name__}: {exc}".split()), secrets)
            click.echo(f"internal error: {message} (run with --debug for details)", err=True)
            sys.exit(1)

    return wrapper


def _storage_exit(obj: Context | None, exc: Exception) -> None:
    """A full or failing disk under the database, met outside a run (which names it itself):
    the same one line (see watcher.db.storage), remembered for `health`, and exit 1."""
    from .db import storage

    db = obj._settings.db if obj and obj._settings else Settings.db
    error = storage.as_storage_error(exc, db)
    if error is None:
        return
    storage.remember(db, error, pipeline.stamp(pipeline.utc_now()))
    click.echo(f"error: {error}", err=True)
    sys.exit(error.exit_code)


def _reader_gone() -> NoReturn:
    """stdout's reader closed the pipe (`watcher validate | head -1`): stop quietly, like cat.
    Later writes, including Python's own flush at exit, go to /dev/null instead of failing."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    sys.exit(1)


class _LowercaseLevel(logging.Formatter):
    """'warning: ...' lines, matching the CLI's own 'error: ...' and 'note: ...' lines."""

    def format(self, record: logging.LogRecord) -> str:
        record.levelname = record.levelname.lower()
        return super().format(record)


class _ProgressBars:
    """Fetch progress drawn on stderr, one bar per long fetch (one that needs more than one
    request), only when stderr is a terminal: click's bar still prints its label when it is
    not, so a log or a pipe gets nothing extra because no bar is made at all."""

    def __init__(self) -> None:
        self._what: str | None = None
        self._bar: Any = None

    @classmethod
    @contextlib.contextmanager
    def on_terminal(cls) -> Iterator[pipeline.PollProgress | None]:
        if not sys.stderr.isatty():
            yield None
            return
        bars = cls()
        try:
            yield bars
        finally:
            bars.finish()

    def __call__(self, what: str, done: int, total: int) -> None:
        if what != self._what:
            self.finish()
            self._what = what
            if done >= total:  # done in one request: nothing worth a bar
                return
            self._bar = click.progressbar(length=total, label=f"{what}: fetching",
                                          file=sys.stderr, show_pos=True)
        if self._bar is not None:
            self._bar.update(done - self._bar.pos)
            if done >= total:
                self.finish()

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.render_finish()
            self._bar = None


def _has_location(line: str) -> bool:
    head = line.split(": ", 1)[0]
    return ".yaml:" in head or ".yml:" in head or head.endswith(("/", ".yaml", ".yml"))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="watcher")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Watch PubMed, ClinicalTrials.gov, ISRCTN and Europe PMC (preprints) for new ketamine
    studies in each condition the team follows, and send digests of what is new or changed."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LowercaseLevel("%(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler],
                        force=True)
    # Secrets are known before anything can print: logs and errors never carry them.
    register_secrets(secrets_in_env())
    install_log_scrubbing()
    ctx.obj = Context(debug)


@main.command()
@click.option("--online", is_flag=True,
              help="Also run each query's PubMed search: count, translation, warnings.")
@queries_option
@click.pass_obj
@friendly
def validate(obj: Context, online: bool) -> None:
    """Load and check every YAML file in the queries folder; print what is watched."""
    from .reporting import check_online, watched

    cfg = obj.config()
    for line in watched(cfg, obj.settings.queries):
        click.echo(line)
    if online and not check_online(cfg, obj.settings, _say):
        sys.exit(1)


@main.command()
@click.option("--once", is_flag=True, help="Poll and send once, ignoring schedules.")
@click.option("--dry-run", is_flag=True, help="Fetch and print, but store and send nothing.")
@click.option("--query", "query_ids", multiple=True, metavar="ID", help="Poll only this query.")
@paths
@click.pass_obj
@friendly
def run(obj: Context, once: bool, dry_run: bool, query_ids: tuple[str, ...]) -> None:
    """Poll every source for every saved query, store what is new, send pending digests."""
    if not once:
        raise click.UsageError("use `watcher run --once` (or `watcher serve` for schedules)")
    cfg = obj.config()
    if dry_run:
        # Work on an in-memory copy (or a fresh in-memory database): same code, nothing kept.
        # The real file is only read: never migrated, no -wal or -shm file left beside it.
        store = Store.memory_copy(obj.settings.db, setting=obj.db_setting)
        click.echo("dry run: nothing will be stored or sent", err=True)
    else:
        store = obj.store()
    with _ProgressBars.on_terminal() as progress:
        report = pipeline.run_once(cfg, store, obj.settings, query_ids=list(query_ids) or None,
                                   progress=progress, dry_run=dry_run)
    _report(report.poll, report.deliveries)
    sys.exit(0 if report.ok else 1)


@main.command(name="poll")
@click.option("--query", "query_ids", multiple=True, metavar="ID", help="Poll only this query.")
@paths
@click.pass_obj
@friendly
def poll_command(obj: Context, query_ids: tuple[str, ...]) -> None:
    """Poll only: fetch, store and queue for destinations; send nothing."""
    cfg = obj.config()
    for query_id in query_ids:
        cfg.query(query_id)
    with _ProgressBars.on_terminal() as progress:
        report = pipeline.poll_run(cfg, obj.store(), obj.settings,
                                   query_ids=list(query_ids) or None, progress=progress)
    for outcome in report.outcomes:
        if not outcome.error:
            _say(f"{outcome.query_id} / {label(outcome.source)} {outcome.window}: "
                 f"{outcome.seen} seen, {outcome.new} new, {outcome.queued} queued")
    _report(report, [])
    sys.exit(1 if report.failures else 0)


@main.command()
@click.argument("destination", required=False)
@click.option("--preview", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the rendering to FILE instead of sending.")
@paths
@click.pass_obj
@friendly
def digest(obj: Context, destination: str | None, preview: Path | None) -> None:
    """Send pending digests now (to DESTINATION only, if given)."""
    cfg = obj.config()
    store = obj.store()
    if preview:
        name, count, rendered = pipeline.preview(cfg, store, destination,
                                                 archive=obj.settings.archive_url)
        preview.write_text(rendered, encoding="utf-8")
        click.echo(f"wrote {count} pending item(s) for {name} to {preview}")
        return
    outcomes = pipeline.deliver(cfg, store, obj.settings,
                                names=[destination] if destination else None)
    _report(pipeline.PollReport(), outcomes)
    sys.exit(1 if any(o.error for o in outcomes) else 0)


@main.command()
@click.option("--study", "study_id", metavar="ID",
              help="Show one study (PMID, PMCID, DOI, PPR, NCT or ISRCTN id, or study:N): "
                   "its ids, the records and links it is joined from and why, every "
                   "kept version, and what the team was told.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (see README).")
@paths
@click.pass_obj
@friendly
def status(obj: Context, study_id: str | None, as_json: bool) -> None:
    """Per query and source: last successful poll, its window, last error and quarantined
    records; per destination: pending items, schedule, last digest sent and last error; items
    pending for a destination no longer in the YAML (ORPHANED). Runs even when the YAML is
    invalid: it then shows what the database holds."""
    from . import report_json, reporting

    if study_id:  # one study's story (watcher.study_story)
        from .study_story import study_history, study_json

        story = study_json(obj.reader(), study_id) if as_json else None
        for line in [json.dumps(story, indent=2)] if story else study_history(obj.reader(),
                                                                            study_id):
            _say(line)
        return
    settings = obj.settings  # a bad environment still stops it, as everywhere
    cfg, invalid = None, None
    try:
        cfg = obj.config()
    except ConfigError as exc:
        invalid = f"{len(exc.problems)} error(s), the first: {exc.problems[0]}"
    if as_json:
        click.echo(json.dumps(report_json.status(cfg, obj.reader(), settings, invalid),
                              indent=2))
        return
    for line in reporting.status(cfg, obj.reader(), settings, invalid):
        _say(line)


@main.command()
@paths
@click.pass_obj
@friendly
def reparse(obj: Context) -> None:
    """Re-read every kept source record with this version's parsers (no network): refreshes
    stored studies and recovers records quarantined as unparseable."""
    counts = pipeline.reparse(obj.config(), obj.store())
    click.echo(f"re-parsed {counts['records']} kept record(s): {counts['fixed']} recovered, "
               f"{counts['failed']} still unparseable")


@main.command()
@paths
@click.pass_obj
@friendly
def serve(obj: Context) -> None:
    """Run forever on the schedules in the YAML (the Procfile worker); SIGTERM stops it.

    Logs go to stdout (WATCHER_LOG_FORMAT=json for JSON lines); SIGHUP reloads the queries."""
    from .serve.logs import configure_logging
    from .serve.worker import serve as run_worker

    configure_logging(obj.settings.log_format, obj.debug)
    run_worker(obj.settings)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (see README).")
@paths
@click.pass_obj
@friendly
def health(obj: Context, as_json: bool) -> None:
    """Exit 0 when healthy, 1 when a source has failed longer than WATCHER_HEALTH_FAILING_HOURS,
    a destination cannot send, items are pending for a destination no longer in the YAML, the
    worker's lease is stale, or the database's disk is full or failing; one line per problem.
    Anything that stops the check (invalid YAML or environment, an unusable database) is 1 as
    well: monitors read only 0 and 1 (Docker's HEALTHCHECK reserves 2)."""
    from . import report_json
    from .health import failing_sources
    from .reporting import problems

    now = pipeline.utc_now()
    try:
        cfg, store = obj.config(), obj.reader()
        found = problems(cfg, store, now=now, hours=obj.settings.health_failing_hours,
                         settings=obj.settings)
        failing = failing_sources(cfg, store, now=now, hours=obj.settings.health_failing_hours)
    except WatcherError as exc:
        exc.exit_code = 1
        if not as_json:
            raise
        found, failing = [scrub(" ".join(str(exc).split()))], []
    if as_json:
        click.echo(json.dumps(report_json.health(found, failing), indent=2))
    else:
        for line in found:
            _say(line)  # a source's last error, as it wrote it
        if not found:
            click.echo("ok")
    sys.exit(1 if found else 0)


@main.command()
@click.option("--db", "db_path", type=click.Path(dir_okay=False),
              help="Keep the demo database in this new file (default: demo.db in the --out "
                   "folder, replaced on every demo).")
@click.option("--out", type=click.Path(file_okay=False), default="watcher-demo",
              show_default=True, help="Write the email and Slack renderings here.")
@queries_option
@click.pass_obj
@friendly
def demo(obj: Context, db_path: str | None, out: str) -> None:
    """The whole pipeline offline on a realistic week: writes what Slack and email would get."""
    from .demo import run_demo

    sys.exit(run_demo(obj.settings, db_path=db_path, out=out))


#: The end of every poll error when this machine cannot resolve any name (see http.failures).
NO_NETWORK = "host name could not be resolved"


def _report(poll_report: pipeline.PollReport, deliveries: list[pipeline.DeliveryOutcome]) -> None:
    for line in poll_report.error_lines():
        _say(f"error: {line}", err=True)
    outcomes = poll_report.outcomes
    if outcomes and all(o.error and NO_NETWORK in o.error for o in outcomes):
        click.echo("note: no source could be reached (no network?); `watcher demo` runs the "
                   "whole pipeline offline", err=True)
    for outcome in deliveries:
        if outcome.error:
            name = f"{outcome.destination}: "
            error = outcome.error if outcome.error.startswith(name) else name + outcome.error
            _say(f"error: {error} ({outcome.items} item(s) kept pending)", err=True)
        elif outcome.skipped and outcome.items:
            _say(f"note: {outcome.destination}: not sent, {outcome.skipped} "
                 f"({outcome.items} item(s) pending)", err=True)


def _say(line: str, err: bool = False) -> None:
    """Echo a line that may quote a source (a title, an error an upstream server wrote) with
    its control characters and escape sequences cleaned (render.common.printable)."""
    click.echo(printable(line), err=err)


from .cli_archive import archive  # noqa: E402  (a command in its own module)
from .cli_export import export  # noqa: E402  (a command in its own module)
from .cli_feed import feed as feed_command  # noqa: E402  (a command in its own module)
from .cli_search import search  # noqa: E402  (a command in its own module)

main.add_command(feed_command)
main.add_command(archive)
main.add_command(export)
main.add_command(search)
