"""The static archive `watcher archive DIR` writes: pages built from the database's rows
(site.py, pure) and a chart of studies per month for each condition (chart.py)."""
