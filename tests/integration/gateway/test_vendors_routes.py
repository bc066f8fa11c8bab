"""Vendors and routes at work: translation, errors, splits, suspension, limits, revocation."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import httpx
import openai
import pytest

from tests.integration.gateway.conftest import GatewayRig, Served
from tests.integration.gateway.test_guards import ask
from tests.integration.gateway.vendors import FakeVendor
from vallum.gateway import config
from vallum.gateway.policy import Status, Target, VendorKind
from vallum.identity import apikeys


def serve(rig: GatewayRig, fake: FakeVendor) -> str:
    served = Served(fake.app())
    rig.stops.append(served.stop)
    return served.url


def add(rig: GatewayRig, name: str, kind: VendorKind, url: str, **kw: object) -> None:
    config.add_vendor(
        rig.ctx,
        config.VendorSpec(name, kind, url, True, ("us",), credential="sk-secret-999", **kw),  # type: ignore[arg-type]
    )


def test_anthropic_is_translated_both_ways(rig: GatewayRig) -> None:
    fake = FakeVendor(reply="bonjour from claude")
    add(rig, "claude", VendorKind.ANTHROPIC, serve(rig, fake))
    rig.route("c", Target("claude", "claude-x", 100))
    c = openai.OpenAI(base_url=rig.base_url, api_key=rig.key, max_retries=0)
    out = c.chat.completions.create(
        model="c",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
        ],
        max_tokens=50,
    )
    assert out.choices[0].message.content == "bonjour from claude"
    assert out.usage is not None and out.usage.prompt_tokens == 9
    seen = fake.calls[0]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == "sk-secret-999"
    assert seen.body["system"] == "be brief"
    assert seen.body["messages"] == [{"role": "user", "content": "hi"}]
    assert seen.body["max_tokens"] == 50
    assert ask(rig, "c", "hi", stream=True) == "bonjour from claude"


def test_azure_uses_deployment_urls_and_api_key_header(rig: GatewayRig) -> None:
    fake = FakeVendor()
    add(rig, "az", VendorKind.AZURE_OPENAI, serve(rig, fake), api_version="2024-10-21")
    rig.route("a", Target("az", "my-deployment", 100))
    assert ask(rig, "a", "hi") == "hello from the vendor"
    seen = fake.calls[0]
    assert seen.path == "/openai/deployments/my-deployment/chat/completions"
    assert seen.query == "api-version=2024-10-21"
    assert seen.headers["api-key"] == "sk-secret-999"
    assert "model" not in seen.body


def test_upstream_errors_are_mapped_and_never_leak_the_credential(rig: GatewayRig) -> None:
    fake = FakeVendor(status=401)
    add(rig, "bad", VendorKind.OPENAI, serve(rig, fake) + "/v1")
    rig.route("b", Target("bad", "m", 100))
    with pytest.raises(openai.APIStatusError) as failed:
        ask(rig, "b", "hi")
    assert failed.value.status_code == 502
    assert failed.value.code == "unavailable.upstream"
    assert "sk-secret-999" not in failed.value.response.text
    assert "bad key" not in failed.value.response.text
    fake.status = 500
    with pytest.raises(openai.APIStatusError) as streamed:
        ask(rig, "b", "hi", stream=True)
    assert streamed.value.status_code == 502


def test_an_unreachable_vendor_is_a_502(rig: GatewayRig) -> None:
    from tests.integration.gateway.conftest import free_port

    add(rig, "gone", VendorKind.OPENAI, f"http://127.0.0.1:{free_port()}/v1")
    rig.route("g", Target("gone", "m", 100))
    with pytest.raises(openai.APIStatusError) as failed:
        ask(rig, "g", "hi")
    assert failed.value.status_code == 502


def test_weights_split_traffic(rig: GatewayRig) -> None:
    a, b = FakeVendor(reply="A"), FakeVendor(reply="B")
    add(rig, "va", VendorKind.OPENAI, serve(rig, a) + "/v1")
    add(rig, "vb", VendorKind.OPENAI, serve(rig, b) + "/v1")
    rig.route("split", Target("va", "m", 80), Target("vb", "m", 20))
    seen = Counter(ask(rig, "split", "hi") for _ in range(60))
    assert seen["A"] > seen["B"] > 0
    config.set_weights(rig.ctx, "split", {"va/m": 0, "vb/m": 100})
    rig.sync()
    assert {ask(rig, "split", "hi") for _ in range(5)} == {"B"}


def test_a_suspended_vendor_or_route_is_refused_at_once(rig: GatewayRig) -> None:
    fake = FakeVendor()
    add(rig, "v", VendorKind.OPENAI, serve(rig, fake) + "/v1")
    rig.route("r", Target("v", "m", 100))
    assert ask(rig, "r", "hi")
    config.set_vendor_status(rig.ctx, "v", Status.SUSPENDED, "incident 42")
    rig.sync()
    with pytest.raises(openai.PermissionDeniedError) as refused:
        ask(rig, "r", "hi")
    assert "suspended" in str(refused.value)
    assert len(fake.calls) == 1
    config.set_vendor_status(rig.ctx, "v", Status.APPROVED, "resolved")
    config.set_route_status(rig.ctx, "r", Status.SUSPENDED, "review")
    rig.sync()
    with pytest.raises(openai.PermissionDeniedError):
        ask(rig, "r", "hi")
    registered = rig.events("vendors.registered")
    assert [e.get("status") for e in registered][-2:] == ["suspended", "approved"]
    assert "sk-secret-999" not in str(registered)


def test_routes_refuse_vendors_outside_their_regions(rig: GatewayRig) -> None:
    add(rig, "v", VendorKind.OPENAI, serve(rig, FakeVendor()) + "/v1")
    rig.route("eu-only", Target("v", "m", 100), regions=("eu",))
    with pytest.raises(openai.PermissionDeniedError) as refused:
        ask(rig, "eu-only", "hi")
    assert "region" in str(refused.value)


def test_rate_limits_answer_429_with_retry_after(rig: GatewayRig) -> None:
    rig.route("slow", Target("demo", "demo-echo", 100), requests_per_minute=2)
    ask(rig, "slow", "one")
    ask(rig, "slow", "two")
    r = httpx.post(
        f"{rig.base_url}/chat/completions",
        headers={"authorization": f"Bearer {rig.key}"},
        json={"model": "slow", "messages": [{"role": "user", "content": "three"}]},
    )
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1
    assert rig.events("gateway.rate_limited")[-1]["route"] == "slow"


def test_a_revoked_key_is_refused_within_a_second(rig: GatewayRig) -> None:
    rig.route("open", Target("demo", "demo-echo", 100))
    assert ask(rig, "open", "hi")
    key_id = rig.key.split("_")[1]
    apikeys.revoke_key(rig.ctx.directory, "user:admin", key_id, "test")
    time.sleep(1.1)
    with pytest.raises(openai.AuthenticationError):
        ask(rig, "open", "hi")


def test_a_slow_vendor_times_out_with_504(make_gateway: Callable[..., GatewayRig]) -> None:
    rig = make_gateway(settings_update={"gateway_upstream_timeout": 0.5})
    add(rig, "slow", VendorKind.OPENAI, serve(rig, FakeVendor(delay=2.0)) + "/v1")
    rig.route("s", Target("slow", "m", 100))
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as failed:
        ask(rig, "s", "hi")
    assert failed.value.status_code == 504
    assert failed.value.code == "unavailable.upstream_timeout"
    assert time.monotonic() - started < 1.9


def test_kept_alive_connections_are_reused_and_survive_a_vendor_restart(rig: GatewayRig) -> None:
    fake = FakeVendor()
    served = Served(fake.app())
    add(rig, "v", VendorKind.OPENAI, served.url + "/v1")
    rig.route("r", Target("v", "m", 100))
    assert ask(rig, "r", "one") and ask(rig, "r", "two")
    port = served.port
    served.stop()  # the pooled connection is now dead
    restarted = _serve_on(fake, port)
    rig.stops.append(restarted.stop)
    assert ask(rig, "r", "three") == "hello from the vendor"
    assert len(fake.calls) == 3


def _serve_on(fake: FakeVendor, port: int) -> Served:
    import threading

    import uvicorn

    s = Served.__new__(Served)
    s.port = port
    s.server = uvicorn.Server(
        uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="error")
    )
    s.thread = threading.Thread(target=s.server.run, daemon=True)
    s.thread.start()
    deadline = time.monotonic() + 20
    while not s.server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return s
