"""Prometheus metrics of one gateway worker (its own registry, no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

_BUCKETS = (0.0005, 0.001, 0.0015, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "vallum_gateway_requests",
            "Gateway requests by route and HTTP status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vallum_gateway_request_seconds",
            "Time from request to the last byte of the answer.",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.added = Histogram(
            "vallum_gateway_added_seconds",
            "Time the gateway added (total minus time waiting for the vendor).",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.blocked = Counter(
            "vallum_gateway_blocked",
            "Requests refused by a guard, a policy, a limit or fail-closed, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "vallum_gateway_upstream_errors",
            "Vendor calls that failed, by vendor and error code.",
            ["vendor", "code"],
            registry=self.registry,
        )
        self.findings = Counter(
            "vallum_gateway_findings",
            "Guard findings by guard.",
            ["guard"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
