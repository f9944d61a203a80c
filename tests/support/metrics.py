"""Reading a Prometheus endpoint the way a scraper does, with prometheus-client's own parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def scrape(
    url: str, *, headers: dict[str, str] | None = None
) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample by its name (`..._total`, `..._bucket`, …): its labels and value. The
    API's /metrics wants `headers` with an admin's key or the metrics token."""
    response = httpx.get(url, headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when none)."""
    return sum(
        sample_value
        for sample_labels, sample_value in samples.get(name, [])
        if labels.items() <= sample_labels.items()
    )
