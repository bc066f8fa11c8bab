"""/access end to end: request, approve, deny, withdraw, break-glass and its review."""

from __future__ import annotations

import html
import re

import httpx

from tests.auth_helpers import Console
from tests.integration.console.conftest import Site, error_of, notice_after, post

XSS = "<script>alert(1)</script>"


def _row(page: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', page, re.S)
    assert found is not None, f"no row {row_id}"
    return found.group(1)


def _request_id(notice: str) -> int:
    found = re.search(r"(\d+)", notice)
    assert found is not None, notice
    return int(found.group(1))


def test_request_approve_deny_and_withdraw(site: Site) -> None:
    admin = site.admin()
    dev = site.person("app-developer")
    page = dev.client.get("/access").text
    assert 'id="request-access"' in page
    assert 'id="pending-requests"' not in page  # not an approver
    assert 'id="break-glass"' not in page
    assert dev.client.get("/users").status_code == 403
    mark = site.last_seq()

    reason = f"{XSS} quarterly evidence pull"
    asked = dev.client.post(
        "/access/request", data=dev.form(role="auditor", minutes="60", reason=reason)
    )
    text, page = notice_after(dev.client, asked)
    first = _request_id(text)
    assert text == f"Access request {first} submitted; someone else must approve it."
    mine = _row(page, f"my-request-{first}")
    assert "pending" in mine
    assert html.escape(reason) in mine
    assert XSS not in page

    queue = admin.client.get("/access").text
    pending = _row(queue, f"request-{first}")
    assert f"user:{dev.username}" in pending
    assert f'<button type="submit" id="approve-{first}">Approve</button>' in pending
    assert ">Deny</button>" in pending
    assert XSS not in queue
    assert dev.client.post(f"/access/{first}/approve", data=dev.form()).status_code == 403

    approved = admin.client.post(f"/access/{first}/approve", data=admin.form())
    assert notice_after(admin.client, approved)[0].startswith(f"Request {first} approved")
    assert dev.client.get("/users").status_code == 200  # the JIT grant counts at once
    assert "approved" in _row(dev.client.get("/access").text, f"my-request-{first}")

    asked = dev.client.post(
        "/access/request",
        data=dev.form(role="ml-engineer", minutes="30", reason="sign the fraud model today"),
    )
    second = _request_id(notice_after(dev.client, asked)[0])
    short = admin.client.post(f"/access/{second}/deny", data=admin.form(reason="no"))
    assert error_of(short, 400) == "the reason must be 10-1000 characters"
    denied = admin.client.post(
        f"/access/{second}/deny", data=admin.form(reason="use the signing service account")
    )
    assert notice_after(admin.client, denied)[0] == f"Request {second} denied."

    asked = dev.client.post(
        "/access/request",
        data=dev.form(role="security", minutes="15", reason="look at the alert queue"),
    )
    third = _request_id(notice_after(dev.client, asked)[0])
    withdrawn = dev.client.post(f"/access/{third}/withdraw", data=dev.form())
    assert notice_after(dev.client, withdrawn)[0] == f"Request {third} withdrawn."
    again = dev.client.post(f"/access/{first}/withdraw", data=dev.form())
    assert error_of(again, 404) == f"no pending access request {first}"

    assert site.actions(mark) == [
        (f"user:{dev.username}", "access.requested", "success"),
        ("user:admin", "access.elevated", "success"),
        (f"user:{dev.username}", "access.requested", "success"),
        ("user:admin", "access.denied", "denied"),
        (f"user:{dev.username}", "access.requested", "success"),
        (f"user:{dev.username}", "access.denied", "denied"),
    ]
    events = site.events(mark)
    elevated = next(e for e in events if e["action"] == "access.elevated")
    assert elevated["subject"] == f"user:{dev.username}"
    assert elevated["data"]["request"] == first
    assert elevated["data"]["role"] == "auditor"
    assert elevated["data"]["via"] == "console"
    granted = [e for e in events if e["action"] == "auth.authorized" and e["actor"] == "user:admin"]
    assert ("POST /access/{request_id}/approve", "success") in {
        (e["subject"], e["outcome"]) for e in granted
    }
    withdrawal = [e for e in events if e["action"] == "access.denied"][-1]
    assert withdrawal["data"]["withdrawn"] is True


def test_refused_requests_are_explained(site: Site) -> None:
    admin = site.admin()
    dev = site.person("app-developer")

    def ask(console: Console, **values: str) -> httpx.Response:
        fields = {"role": "auditor", "minutes": "60", "reason": "a good enough reason"}
        fields.update(values)
        return post(console, "/access/request", **fields)

    assert error_of(ask(dev, reason="short"), 400) == "the reason must be 10-1000 characters"
    too_long = error_of(ask(dev, minutes="600"), 400)
    assert too_long.startswith("the duration must be between 1 minute and 8:00:00")
    assert "whole number" in error_of(ask(dev, minutes="soon"), 400)
    assert error_of(ask(dev, role="nope"), 404) == "no role 'nope'"
    # Four eyes: the admin cannot approve their own request, even by posting the form.
    own = _request_id(notice_after(admin.client, ask(admin))[0])
    assert f'id="request-{own}"' not in admin.client.get("/access").text
    mark = site.last_seq()
    refused = admin.client.post(f"/access/{own}/approve", data=admin.form())
    assert error_of(refused, 403) == "four eyes: you cannot approve your own request"
    assert site.actions(mark) == [("user:admin", "access.refused", "denied")]


def test_break_glass_and_its_review(site: Site) -> None:
    admin = site.admin()
    sec = site.person("security")
    dev = site.person("app-developer")
    assert 'id="break-glass"' not in dev.client.get("/access").text
    assert dev.client.post("/access/break-glass", data=dev.form(role="admin")).status_code == 403

    page = sec.client.get("/access").text
    assert 'id="break-glass"' in page
    warning = re.search(r'id="break-glass-warning"[^>]*>(.*?)</p>', page, re.S)
    assert warning is not None
    assert "Emergency use only." in warning.group(1)
    assert 'class="warning danger"' in page
    assert 'id="create-user"' not in sec.client.get("/users").text  # security cannot manage users

    emergency = {"role": "admin", "minutes": "60", "reason": "prod outage, approvers asleep"}
    unconfirmed = sec.client.post("/access/break-glass", data=sec.form(**emergency))
    assert "tick the box" in error_of(unconfirmed, 400)
    too_long = sec.client.post(
        "/access/break-glass", data=sec.form(**{**emergency, "minutes": "480", "confirm": "yes"})
    )
    assert error_of(too_long, 400).startswith("the duration must be between 1 minute and 4:00:00")
    mark = site.last_seq()
    broke = sec.client.post("/access/break-glass", data=sec.form(**emergency, confirm="yes"))
    text, page = notice_after(sec.client, broke)
    glass = _request_id(text)
    assert text.startswith(f"Break-glass grant {glass} is active.")
    assert "review due" in _row(page, f"my-request-{glass}")
    assert 'id="create-user"' in sec.client.get("/users").text  # admin, right now
    own_review = sec.client.post(f"/access/{glass}/review", data=sec.form(notes="all fine, me"))
    assert error_of(own_review, 403) == "four eyes: you cannot review your own request"

    queue = admin.client.get("/access").text
    row = _row(queue, f"break-glass-{glass}")
    assert f"user:{sec.username}" in row
    assert ">Mark reviewed</button>" in row
    short = admin.client.post(f"/access/{glass}/review", data=admin.form(notes="ok"))
    assert error_of(short, 400) == "the review notes must be 10-1000 characters"
    reviewed = admin.client.post(
        f"/access/{glass}/review", data=admin.form(notes="outage ticket INC-42 confirms it")
    )
    assert (
        notice_after(admin.client, reviewed)[0] == f"Break-glass grant {glass} marked as reviewed."
    )
    assert f'id="break-glass-{glass}"' not in admin.client.get("/access").text

    assert site.actions(mark) == [
        (f"user:{sec.username}", "access.break_glass", "success"),
        (f"user:{sec.username}", "access.refused", "denied"),
        ("user:admin", "access.break_glass_reviewed", "success"),
    ]
    event = next(e for e in site.events(mark) if e["action"] == "access.break_glass")
    assert event["data"]["alert"] is True
    assert event["data"]["review_required"] is True
    assert event["data"]["role"] == "admin"
    assert event["data"]["reason"] == "prod outage, approvers asleep"
