"""watcher: new ketamine studies from PubMed and trial registries, found once, sent once."""

__version__ = "0.1.0"
