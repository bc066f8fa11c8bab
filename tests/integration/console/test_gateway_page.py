"""/gateway: vendors (no credentials), routes and live traffic, for monitor.read only."""

from __future__ import annotations

from tests.integration.console.conftest import Site
from vallum.gateway import config
from vallum.gateway.policy import GuardPolicy, Target, VendorKind
from vallum.ledger.event import Outcome


def test_the_gateway_page_shows_vendors_routes_and_traffic(site: Site) -> None:
    ctx = site.ctx
    config.add_vendor(
        ctx,
        config.VendorSpec(
            "openai",
            VendorKind.OPENAI,
            "https://api.openai.com/v1",
            True,
            ("us",),
            credential="sk-never-shown-77",
        ),
    )
    config.add_route(
        ctx,
        config.RouteSpec(
            "gpt",
            (Target("openai", "gpt-4o", 90), Target("openai", "gpt-4.1", 10)),
            GuardPolicy(),
            requests_per_minute=60,
        ),
    )
    ctx.ledger.append(
        "apikey:0123456789abcdef",
        "gateway.blocked",
        "route:gpt",
        outcome=Outcome.DENIED,
        data={
            "key_id": "0123456789abcdef",
            "route": "gpt",
            "status": 403,
            "findings": {"injection": {"INSTRUCTION_OVERRIDE": 1}},
            "action": "block",
        },
    )
    page = site.admin().client.get("/gateway")
    assert page.status_code == 200
    assert 'id="vendor-openai"' in page.text and "sk-never-shown-77" not in page.text
    assert "openai/gpt-4.1 = 10" in page.text
    assert "INSTRUCTION_OVERRIDE" in page.text and "gateway.blocked" in page.text
    auditor = site.person("auditor")
    assert auditor.client.get("/gateway").status_code == 200  # auditors hold monitor.read
    developer = site.person("app-developer")
    assert developer.client.get("/gateway").status_code == 403
