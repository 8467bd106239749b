"""``/metrics`` parses with the Prometheus client's own text parser."""

from __future__ import annotations

import pytest

from dialogpt.serving.metrics import Metrics


def test_metrics_text_parses_with_prometheus_client():
    parser = pytest.importorskip("prometheus_client.parser")
    metrics = Metrics()
    metrics.inc("requests_total", route="/v1/completions", status="200")
    metrics.inc("requests_total", route="/v1/completions", status="200")
    metrics.inc("requests_total", route="/generate", status="429")
    metrics.inc("generated_tokens_total", 17)
    for value in (0.03, 0.2, 7.0):
        metrics.observe("request_latency_seconds", value, route="/generate")
    metrics.observe("batch_size", 5)
    metrics.set_gauge("queue_depth", 3)
    families = {family.name: family for family in
                parser.text_string_to_metric_families(metrics.render())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in families.values() for s in family.samples}
    assert samples[("dialogpt_requests_total", (("route", "/v1/completions"),
                                                ("status", "200")))] == 2
    assert samples[("dialogpt_generated_tokens_total", ())] == 17
    assert samples[("dialogpt_queue_depth", ())] == 3
    latency = (("route", "/generate"),)
    assert samples[("dialogpt_request_latency_seconds_count", latency)] == 3
    assert samples[("dialogpt_request_latency_seconds_bucket", (("le", "0.05"),) + latency)] == 1
    assert samples[("dialogpt_request_latency_seconds_bucket", (("le", "0.25"),) + latency)] == 2
    assert samples[("dialogpt_request_latency_seconds_sum", latency)] == pytest.approx(7.23)
    assert samples[("dialogpt_batch_size_bucket", (("le", "4.0"),))] == 0
    assert samples[("dialogpt_batch_size_bucket", (("le", "8.0"),))] == 1
    assert families["dialogpt_batch_size"].type == "histogram"
