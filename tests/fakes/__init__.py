"""Local servers only tests use: a Slack Web API and a misbehaving HTTP server (the demo's
servers stay in watcher/fakes/)."""
