"""The newest pieces under a hostile operator and a flaky upstream: the retry of a scheduled
digest that could not be sent, status/health reading the database in place, the NCBI rate cap,
and the registrations byline."""

from __future__ import annotations

import pytest

from watcher.settings import Settings
from watcher.sources.pubmed import ncbi_rate


@pytest.mark.parametrize("url", [
    "https://eutils.ncbi.nlm.nih.gov./entrez/eutils/",  # the fully qualified name: same server
    "https://EUTILS.NCBI.NLM.NIH.GOV../entrez/eutils/",
])
def test_ncbi_s_own_host_written_with_a_trailing_dot_keeps_ncbi_s_cap(url):
    """A trailing dot names the same NCBI host (DNS resolves it alike): a raised
    WATCHER_NCBI_RATE must not get past NCBI's 3 requests/s with it."""
    settings = Settings.from_env({"WATCHER_NCBI_RATE": "1e9", "WATCHER_EUTILS_URL": url})
    assert ncbi_rate(settings) == 3


def test_a_look_alike_host_is_not_ncbi_and_hostile_rates_are_refused():
    """eutils.ncbi.nlm.nih.gov.evil.example is another server (its own rate applies); inf, nan,
    negative and zero rates are configuration errors, never a limiter that crashes."""
    from watcher.errors import ConfigError

    evil = "https://eutils.ncbi.nlm.nih.gov.evil.example/"
    assert ncbi_rate(Settings.from_env({"WATCHER_NCBI_RATE": "50",
                                        "WATCHER_EUTILS_URL": evil})) == 50
    for value in ("inf", "nan", "-1", "0", "1e999"):
        with pytest.raises(ConfigError, match="WATCHER_NCBI_RATE"):
            Settings.from_env({"WATCHER_NCBI_RATE": value})
