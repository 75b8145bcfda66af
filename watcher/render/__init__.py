"""Pure renderers: a Digest in, text (or later Slack blocks / HTML) out. No I/O here."""
