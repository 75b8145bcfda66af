"""The static archive `watcher archive DIR` writes (and `serve` after each digest, given
WATCHER_ARCHIVE_DIR): pages built from the database's rows (site.py, pure), a chart of studies
per month for each condition (chart.py), and the files written into one folder (writer.py)."""
