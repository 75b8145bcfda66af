"""`watcher serve`: a thin APScheduler loop over the library core, built to run unattended.

Jobs, rebuilt from the YAML at start and whenever it changes:
- ``poll``: every WATCHER_POLL_EVERY minutes (default 180, first run at start; a fraction such
  as 0.5 is 30 s), poll every query, so digests are never built from stale data and a missed
  run is caught up by the next one (positions live in the database);
- ``digest:NAME`` for each destination with a schedule (cron, or ``every: 6h`` counted from the
  last digest sent): poll the queries routed to it, then send its digest. A digest whose last
  firing was missed while the worker was down (the last digest sent, and the last such job that
  completed with nothing to send, are older than the schedule's previous fire time) is sent at
  start-up.
- ``retry:NAME``: a scheduled digest that could not be sent (Slack down for a minute) is tried
  again after WATCHER_DIGEST_RETRY seconds (default 300), then twice as long each time up to an
  hour, until it goes out or its next firing comes: a weekly digest is not lost for a week.

One job runs at a time (one executor thread), each job once at a time, late firings coalesce
into one and run however late (misfire grace None: a weekly digest delayed by a long poll is
still sent). One worker per database: a lease in the database, renewed in the background.
SIGTERM/SIGINT let the current step finish (or abandon it after WATCHER_STOP_GRACE seconds,
default 20: the core commits per item, so nothing is half-recorded, and the abandoned run is
marked interrupted, its digest's unsent items pending again) and exit 0; SIGHUP reloads the
YAML. An invalid edit is logged once (and sent to a destination named ``ops``, if configured)
while the last valid configuration keeps running.

Modules: ``worker`` (the process: reloads, signals, the stop), ``timetable`` (the APScheduler
jobs and retries), ``jobs`` (what each step does, as plain functions returning outcomes),
``lease`` (the worker lease held for a ``with`` block) and ``logs`` (text or JSON lines).
"""
