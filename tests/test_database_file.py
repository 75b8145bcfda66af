"""The database file WATCHER_DB points at: one run lock per file however it is named, a run
that waits says so, --dry-run only reads, and a file that is not watcher's is refused untouched.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlite_utils

from tests.helpers import QUERIES_YAML, ROOT
from tests.helpers.delivery import TWO_ROUTES
from watcher.db import MIGRATIONS, Store
from watcher.errors import WatcherError


def snapshot(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[bytes, int]]:
    """Every file and folder under *folder*: its bytes and modification time."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>",
                                         p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if not p.name.endswith(skip)}


def make_version_1(path: Path) -> None:
    """A database as the walking skeleton left it: only the first migration, in WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(path)
    db.enable_wal()
    MIGRATIONS[0](db)
    db["studies"].insert({
        "id": 1, "kind": "publication", "source": "pubmed", "title": "Kept", "abstract": "",
        "authors": '["Doe J"]', "journal": "J", "published": "2025", "year": 2025,
        "publication_types": "[]", "mesh_terms": "[]", "linked_ids": "{}",
        "url": "https://pubmed.ncbi.nlm.nih.gov/1/", "first_seen": "2025-01-01",
        "updated": "2025-01-01"})
    db["study_ids"].insert({"scheme": "pmid", "value": "1", "study_id": 1})
    db["outbox"].insert({"destination": "terminal", "study_id": 1, "queued_at": "2025-01-01"})
    db.conn.execute("PRAGMA user_version = 1")
    db.conn.commit()
    db.conn.close()


def make_foreign(path: Path, *tables: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = wal")
    for table in tables:
        conn.execute(f"CREATE TABLE {table} (key TEXT, value TEXT)")
    if "meta" in tables:
        conn.execute("INSERT INTO meta VALUES ('application', 'someone-else')")
    conn.commit()
    conn.close()


class _Seen(logging.Handler):
    """Sets an event when a log line containing *text* is emitted (from any thread)."""

    def __init__(self, text: str):
        super().__init__(logging.WARNING)
        self.text = text
        self.event = threading.Event()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        if self.text in record.getMessage():
            self.event.set()


@pytest.fixture
def seen():
    handler = _Seen("waiting for another watcher process")
    logger = logging.getLogger("watcher.db.connection")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


# --- the run lock ------------------------------------------------------------------------------

def test_the_run_lock_holds_through_a_symlink_to_the_database(tmp_path, seen):
    real = Store(tmp_path / "state" / "watcher.db")
    link = tmp_path / "link.db"
    link.symlink_to(tmp_path / "state" / "watcher.db")
    other = Store(link)
    entered = threading.Event()

    def second() -> None:
        with other.exclusive(wait=30):
            entered.set()

    with real.exclusive():
        thread = threading.Thread(target=second)
        thread.start()
        assert seen.event.wait(10), "the second store took the lock while the first held it"
        assert not entered.is_set()
    thread.join(10)
    assert entered.is_set(), "released: the second store goes ahead"
    assert seen.lines[0] == f"waiting for another watcher process using {link} (up to 30s)"
    assert re.fullmatch(r"waited \d+\.\ds for another watcher process", seen.lines[1])


def test_giving_up_on_the_lock_is_one_line_after_saying_it_waits(tmp_path, seen):
    path = tmp_path / "watcher.db"
    holder, other = Store(path), Store(path)
    with holder.exclusive(), pytest.raises(WatcherError) as caught, other.exclusive(wait=0.3):
        pass  # pragma: no cover - never entered
    assert str(caught.value) == (f"another watcher process has held {path} for 0.3s; "
                                 "try again when it has finished")
    assert seen.lines == [f"waiting for another watcher process using {path} (up to 0.3s)"]


def test_a_run_that_waits_for_another_says_so_on_stderr(env, corpus_server, seen):
    env.write_queries(QUERIES_YAML)
    holder = Store(env.db)
    held = threading.Event()

    def hold() -> None:
        with holder.exclusive():
            held.set()
            seen.event.wait(30)  # until the CLI says it is waiting

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    result = env.cli("run", "--once")
    thread.join(10)
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert f"warning: waiting for another watcher process using {env.db} (up to 600s)" in lines
    assert any(re.fullmatch(r"warning: waited \d+\.\ds for another watcher process", line)
               for line in lines)


# --- --dry-run only reads ----------------------------------------------------------------------

def test_dry_run_leaves_a_current_database_untouched(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    assert env.cli("run", "--once").exit_code == 0
    gc.collect()  # that run's database connection is closed, as when its process ends
    before = snapshot(env.db.parent)
    result = env.cli("run", "--once", "--dry-run")
    assert result.exit_code == 0
    assert "pubmed.ncbi.nlm.nih.gov/" not in result.stdout, "it worked on a copy of the data"
    assert snapshot(env.db.parent) == before


def test_dry_run_leaves_a_version_1_database_untouched(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    make_version_1(env.db)
    before = snapshot(env.db.parent)
    result = env.cli("run", "--once", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert snapshot(env.db.parent) == before
    assert Store(env.db).version == len(MIGRATIONS), "a real run still migrates it"


def test_dry_run_beside_a_running_watcher_reads_its_latest_writes(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    running = Store(env.db)  # kept open: the run's writes stay in the -wal file
    assert env.cli("run", "--once").exit_code == 0
    assert Path(f"{env.db}-wal").stat().st_size > 0
    before = snapshot(env.db.parent, skip=("-shm",))
    result = env.cli("run", "--once", "--dry-run")
    assert result.exit_code == 0
    assert "pubmed.ncbi.nlm.nih.gov/" not in result.stdout, "what the -wal holds was seen"
    assert snapshot(env.db.parent, skip=("-shm",)) == before
    running.close()


# --- a file that is not a watcher database -----------------------------------------------------

def _foreign(path: Path) -> None:
    make_foreign(path, "foo", "bar")


def _foreign_meta(path: Path) -> None:
    make_foreign(path, "meta", "studies")


def _newer(path: Path) -> None:
    store = Store(path)
    store.conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    store.close()


def _folder(path: Path) -> None:
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("mine\n")


def _text(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("id,title\n1,not a database\n")


REFUSED = {
    "foreign": (_foreign, "is not a watcher database (it has tables: bar, foo); "
                          "point WATCHER_DB at another file"),
    "foreign meta": (_foreign_meta, "is not a watcher database (it has tables: meta, studies); "
                                    "point WATCHER_DB at another file"),
    "newer": (_newer, f"was written by a newer watcher (schema version {len(MIGRATIONS) + 1}; "
                      f"this watcher knows up to {len(MIGRATIONS)}); upgrade watcher, or point "
                      "WATCHER_DB at another file"),
    "folder": (_folder, "is a folder, not a database file; point WATCHER_DB at a file, such as "),
    "text": (_text, "is not an SQLite database; point WATCHER_DB at another file"),
}


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize("case", list(REFUSED))
def test_a_file_that_is_not_a_watcher_database_is_refused_untouched(env, case, dry_run):
    env.write_queries(QUERIES_YAML)
    make, message = REFUSED[case]
    make(env.db)
    before = snapshot(env.db.parent)
    result = env.cli("run", "--once", *(["--dry-run"] if dry_run else []))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: WATCHER_DB={env.db} {message}")
    assert snapshot(env.db.parent) == before


def test_a_database_whose_folder_cannot_be_made_is_refused(env, tmp_path):
    env.write_queries(QUERIES_YAML)
    box = tmp_path / "box"
    box.mkdir()
    (box / "state").write_text("a file where the folder should be\n")
    path = box / "state" / "sub" / "watcher.db"
    before = snapshot(box)
    result = env.cli("run", "--once", WATCHER_DB=str(path))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: WATCHER_DB={path} cannot be created: its folder {path.parent} cannot be made "
        "(Not a directory); point WATCHER_DB at another file"]
    assert snapshot(box) == before


def test_an_empty_file_or_empty_sqlite_database_is_initialised(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.db"
    conn = sqlite3.connect(blank)
    conn.executescript("CREATE TABLE scratch (x); DROP TABLE scratch;")
    conn.close()
    assert blank.read_bytes().startswith(b"SQLite format 3")
    assert Store(empty).version == Store(blank).version == len(MIGRATIONS)


def test_a_version_1_database_is_migrated_with_what_it_held(tmp_path):
    path = tmp_path / "old.db"
    make_version_1(path)
    store = Store(path)
    assert store.version == len(MIGRATIONS)
    assert [p.study.title for p in store.pending("terminal")] == ["Kept"]


# --- read-only files: root ignores file modes, so the CLI runs without that privilege ----------

def _without_permission_override() -> None:
    """In the child, before exec: drop CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER
    from the bounding set, so even root obeys file modes (PR_CAPBSET_DROP)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2, 3):
        if libc.prctl(24, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_unprivileged(env, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [sys.executable, "-m", "watcher", *args], cwd=ROOT,
            env={**os.environ, **env.vars()}, capture_output=True, text=True, timeout=60,
            preexec_fn=_without_permission_override if os.geteuid() == 0 else None)
    except subprocess.SubprocessError as exc:  # pragma: no cover - depends on the sandbox
        pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE ({exc})")


def _read_only_file(env) -> None:
    env.db.chmod(0o444)


def _read_only_folder(env) -> None:
    env.db.parent.chmod(0o555)


def _read_only_wal_files(env) -> None:
    """A writer that died (as another user, say) left -wal and -shm files this one cannot
    write: the file itself looks writable, SQLite can only read."""
    code = ("import os, sqlite3, sys\n"
            "conn = sqlite3.connect(sys.argv[1])\n"
            "conn.execute(\"INSERT INTO runs (command, started) VALUES ('poll', 't')\")\n"
            "conn.commit()\n"
            "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", code, str(env.db)], check=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{env.db}{suffix}").chmod(0o444)


READ_ONLY = {
    "file": (_read_only_file, "is read-only; make it writable, or point WATCHER_DB at another "
                              "file"),
    "folder": (_read_only_folder, "is in a read-only folder"),
    "wal files": (_read_only_wal_files, "cannot be written (attempt to write a readonly "
                                        "database); check the permissions of it, its -wal and "
                                        "-shm files and its folder"),
}


@pytest.mark.parametrize("case", list(READ_ONLY))
def test_a_read_only_database_is_refused_untouched(env, case):
    env.write_queries(QUERIES_YAML)
    Store(env.db).close()
    make, message = READ_ONLY[case]
    make(env)
    before = snapshot(env.db.parent)
    try:
        result = run_unprivileged(env, "run", "--once")
    finally:
        env.db.parent.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"error: WATCHER_DB={env.db} {message}")
    assert snapshot(env.db.parent) == before


def test_status_and_health_read_a_current_database_in_place_and_cannot_change_it(
        env, corpus_server):
    """`health` runs every minute from a monitor: it reads the file itself (a copy of a large
    database each minute could exhaust a small container's memory), through a connection that
    cannot write and leaves no -wal/-shm files behind."""
    env.write_queries(QUERIES_YAML)
    assert env.cli("poll").exit_code == 0
    env.store().close()
    beside = sorted(p.name for p in env.db.parent.iterdir())
    studies = env.store().count("studies")

    store = Store.reading(env.db)
    assert store.path == str(env.db), "read in place, not copied into memory"
    assert store.count("studies") == studies > 0
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.conn.execute("DELETE FROM studies")
    store.conn.close()
    assert env.cli("health").exit_code == 0 and env.cli("status").exit_code == 0
    assert sorted(p.name for p in env.db.parent.iterdir()) == beside
    assert env.store().count("studies") == studies


def test_a_run_that_must_wait_for_the_lock_says_so_then_runs(env, corpus_server):
    import threading

    env.write_queries(TWO_ROUTES)
    holder = env.store()
    holding, release = threading.Event(), threading.Event()

    def hold():
        with holder.exclusive():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(5)
    timer = threading.Timer(0.6, release.set)
    timer.start()
    try:
        result = env.cli("poll")
    finally:
        release.set()
        thread.join()
    assert result.exit_code == 0, result.stderr
    assert "waiting" in result.stderr and str(env.db) in result.stderr
    assert [line.split(" ")[1] for line in result.stderr.splitlines()] == ["waiting", "waited"]


def _wal_only_change(env, title: str) -> sqlite3.Connection:
    """A writer that committed *title* into the -wal only (no checkpoint), left open."""
    writer = sqlite3.connect(env.db)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    with writer:
        writer.execute("UPDATE studies SET title = ? WHERE id = (SELECT MIN(id) FROM studies)",
                       (title,))
    return writer


@pytest.mark.hostile
def test_a_database_whose_wal_came_without_its_shm_is_read_whole_and_left_as_found(
        env, corpus_server, tmp_path):
    """A restored copy (or a backup tool) brings `watcher.db` and its `-wal` but not the `-shm`:
    status and health read every committed change, yet create no `-shm` beside it (one made by
    root through `docker exec` could lock the worker's own user out of the database)."""
    env.write_queries(QUERIES_YAML)
    assert env.cli("poll").exit_code == 0
    writer = _wal_only_change(env, "Only in the write-ahead log")
    copy = tmp_path / "restored"
    copy.mkdir()
    shutil.copy(env.db, copy / "watcher.db")
    shutil.copy(f"{env.db}-wal", copy / "watcher.db-wal")
    writer.close()
    before = {p.name: p.read_bytes() for p in copy.iterdir()}

    store = Store.reading(copy / "watcher.db")
    titles = [row[0] for row in store.conn.execute("SELECT title FROM studies")]
    store.conn.close()
    assert "Only in the write-ahead log" in titles
    for command in ("status", "health"):
        result = env.cli(command, WATCHER_DB=str(copy / "watcher.db"))
        assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before


@pytest.mark.hostile
def test_a_wal_its_last_writer_removes_while_it_is_read_is_no_error(env, corpus_server,
                                                                     monkeypatch, tmp_path):
    """The last connection to close checkpoints, then removes the -shm and then the -wal: a
    reader that saw the -wal without its -shm found the -wal gone when it came to copy it.
    `serve` hit this itself (one job's store closing as the next store opened) and exited 1
    with "internal error: FileNotFoundError ... watcher.db-wal" on SIGTERM. The main file then
    holds everything, so it is read in place."""
    from watcher.db import connection

    env.write_queries(QUERIES_YAML)
    assert env.cli("poll").exit_code == 0
    writer = _wal_only_change(env, "Checkpointed as it was read")
    folder = tmp_path / "live"
    folder.mkdir()
    db = folder / "watcher.db"
    shutil.copy(env.db, db)
    shutil.copy(f"{env.db}-wal", f"{db}-wal")
    writer.close()
    copy = shutil.copyfile

    def last_writer_closes_first(src, dst, **kwargs):
        if str(src).endswith("-wal"):
            last = sqlite3.connect(db)  # a real last close: checkpoint, remove -shm and -wal
            last.execute("SELECT COUNT(*) FROM studies").fetchone()
            last.close()
            assert not Path(f"{db}-wal").exists()
        return copy(src, dst, **kwargs)

    monkeypatch.setattr(connection.shutil, "copyfile", last_writer_closes_first)
    store = Store.reading(db)
    titles = [row[0] for row in store.conn.execute("SELECT title FROM studies")]
    store.conn.close()
    assert "Checkpointed as it was read" in titles
    assert sorted(p.name for p in folder.iterdir()) == ["watcher.db"]


def test_status_reads_a_database_a_running_writer_holds_open_without_touching_it(
        env, corpus_server):
    """serve is mid-write (its -wal non-empty, -shm present): status and `status STUDY` read
    the latest committed data and neither checkpoint, truncate nor remove the writer's files."""
    env.write_queries(QUERIES_YAML)
    assert env.cli("poll").exit_code == 0
    writer = _wal_only_change(env, "Committed a moment ago")
    beside = {p.name: p.stat().st_size for p in env.db.parent.iterdir()}
    main_file = env.db.read_bytes()
    study = writer.execute("SELECT MIN(id) FROM studies").fetchone()[0]
    pmid = writer.execute("SELECT source_id FROM source_records WHERE study_id = ? AND source ="
                          " 'pubmed'", (study,)).fetchone()[0]
    try:
        result = env.cli("status")
        assert result.exit_code == 0, result.output
        history = env.cli("status", "--study", pmid)
        assert history.exit_code == 0 and "Committed a moment ago" in history.output, \
            history.output
        store = Store.reading(env.db)
        assert store.conn.execute("SELECT title FROM studies WHERE id = ?",
                                  (study,)).fetchone()[0] == "Committed a moment ago"
        store.conn.close()
        assert {p.name: p.stat().st_size for p in env.db.parent.iterdir()} == beside
        assert env.db.read_bytes() == main_file, "nothing checkpointed into the main file"
    finally:
        writer.close()


def test_dry_run_does_not_create_the_database(env, corpus_server):
    env.write_queries(QUERIES_YAML)
    assert env.cli("run", "--once", "--dry-run").exit_code == 0
    assert not env.db.exists()
