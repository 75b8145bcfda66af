"""Look-ups about stored studies after a poll: retractions, corrections and expressions of
concern from Crossref (``updated-by``, Retraction Watch's entries included), and preprint ->
published links from Crossref (``relation``), bioRxiv/medRxiv (``/pubs``) and Europe PMC.

One module per upstream (a pure parser beside its client: crossref.py, biorxiv.py), the step
that runs them once per run (step.py), and what a Crossref update becomes (updates.py). What
they keep (when each id was last asked, each upstream's last success and failure) is in
watcher/db/lookups.py. This package's __init__ imports nothing: the settings read it early.
"""
