"""Local servers only tests use: a Slack Web API, a misbehaving HTTP server and RSS/Atom feeds
(the demo's servers stay in watcher/fakes/)."""
