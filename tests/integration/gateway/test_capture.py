"""Optional encrypted content capture: off by default, encrypted, shredded after retention."""

from __future__ import annotations

import time
from collections.abc import Callable

import openai
from sqlalchemy import select

from tests.helpers import tamper
from tests.integration.gateway.conftest import GatewayRig
from vallum.gateway.capture import read_capture, sweep
from vallum.gateway.policy import Target
from vallum.store.models_gateway import GatewayCapture


def _ask(rig: GatewayRig, text: str) -> None:
    c = openai.OpenAI(base_url=rig.base_url, api_key=rig.key, max_retries=0)
    c.chat.completions.create(model="open", messages=[{"role": "user", "content": text}])


def _captures(rig: GatewayRig) -> list[GatewayCapture]:
    with rig.ctx.engine.connect() as conn:
        return list(conn.execute(select(GatewayCapture)).all())  # type: ignore[arg-type]


def test_capture_is_off_by_default(rig: GatewayRig) -> None:
    rig.route("open", Target("demo", "demo-echo", 100))
    _ask(rig, "Zebulon's secret plan")
    assert _captures(rig) == []
    assert "captured" not in rig.events("gateway.request")[-1]


def test_captured_content_is_encrypted_readable_and_shredded_after_retention(
    make_gateway: Callable[..., GatewayRig],
) -> None:
    rig = make_gateway(settings_update={"gateway_capture_days": 7})
    rig.route("open", Target("demo", "demo-echo", 100))
    _ask(rig, "Zebulon's secret plan")
    event = rig.events("gateway.request")[-1]
    assert event["captured"] is True
    deadline = time.monotonic() + 5
    while not _captures(rig) and time.monotonic() < deadline:
        time.sleep(0.05)
    (row,) = _captures(rig)
    assert b"Zebulon" not in row.ciphertext
    content = read_capture(rig.ctx, event["request_id"])
    assert "Zebulon's secret plan" in str(content["request"])
    assert content["response"] == "echo: Zebulon's secret plan"
    assert sweep(rig.ctx, 7) == 0  # today's capture is kept
    tamper(rig.ctx.engine, "UPDATE gateway_captures SET day = '2000-01-01'")
    assert sweep(rig.ctx, 7) == 1
    assert _captures(rig) == []
    assert any(e.get("reason") == "gateway capture retention" for e in rig.events("keys.shredded"))
