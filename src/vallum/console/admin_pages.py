"""What the administration pages share: notices, form fields, error statuses.

The pages themselves live in ``users_pages`` (/users, /roles), ``keys_pages``
(/keys), ``access_pages`` (/access) and ``reviews_pages`` (/reviews). Each route
declares the permission it needs with ``page(P.X)``, which also checks the CSRF
token of every POST.

A change is a POST form. When the domain accepts it, the answer is a 303 back
to the page with a notice (Post/Redirect/Get); the notice is one of the fixed
texts below, never text from the query string. When the domain refuses, the
page is rendered again with the error (a VallumError's ``detail``) and its
status. Pages that show a secret once (a one-time password, an API key) answer
the POST directly and are never cached (``render`` sets ``no-store``).
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Form, Path, Query, Request
from fastapi.responses import RedirectResponse

from vallum.console.render import secure_headers
from vallum.errors import UsageError, VallumError

#: The channel the console acts through, as the identity functions record it (``via``).
CHANNEL = "console"
#: Largest id a path may carry (database integer columns are 32-bit on PostgreSQL).
MAX_ID = 2**31 - 1
MAX_LIST = 64  # checkboxes of one name a form may send

Text = Annotated[str, Form(max_length=1000)]
DbId = Annotated[int, Path(ge=1, le=MAX_ID)]
NoticeQuery = Annotated[str | None, Query(max_length=40)]
SubjectQuery = Annotated[str | None, Query(max_length=160)]

NOTICES = {
    "service-created": "Service account {} created. It has no password: give it API keys.",
    "granted": "Role granted (grant {}).",
    "grant-revoked": "Grant {} revoked.",
    "disabled": "{} is disabled: sessions end and API keys stop working.",
    "enabled": "{} is enabled again.",
    "role-created": "Role {} created.",
    "key-revoked": "API key {} revoked.",
    "requested": "Access request {} submitted; someone else must approve it.",
    "approved": "Request {} approved; the grant ends by itself when its time is up.",
    "denied": "Request {} denied.",
    "withdrawn": "Request {} withdrawn.",
    "break-glass": "Break-glass grant {} is active. An alert was raised; it will be reviewed.",
    "reviewed": "Break-glass grant {} marked as reviewed.",
    "campaign-started": "Review campaign {} started.",
    "certified": "Item {} certified.",
    "item-revoked": "Item {} revoked: the access it names has been removed.",
    "closed": "Campaign {} closed.",
}
SUBJECT_RE = re.compile(r"^[A-Za-z0-9_.@:-]{1,160}$")


def see_other(path: str, notice: str, subject: str | int) -> RedirectResponse:
    """303 back to ``path`` with a notice (Post/Redirect/Get)."""
    assert notice in NOTICES  # noqa: S101 - a programming error, not input
    query = urlencode({"notice": notice, "subject": str(subject)})
    resp = RedirectResponse(f"{path}?{query}", status_code=303)
    secure_headers(resp)  # type: ignore[arg-type]
    return resp


def notice_text(notice: str | None, subject: str | None) -> str | None:
    """The fixed text of a notice; the subject only when it looks like a name or an id."""
    template = NOTICES.get(notice or "")
    if template is None:
        return None
    shown = subject if subject is not None and SUBJECT_RE.match(subject) else "(unnamed)"
    return template.format(shown)


def failure_status(exc: VallumError) -> int:
    """The status of a page shown again with ``exc``; server faults are not shown there."""
    if exc.http_status >= 500:
        raise exc
    return 403 if exc.http_status == 401 else exc.http_status


def form_list(request: Request, name: str) -> list[str]:
    """Every value of a repeated field (checkboxes), as page() read the form."""
    form = getattr(request.state, "form", None)
    values = [v for v in form.getlist(name) if isinstance(v, str)] if form is not None else []
    if len(values) > MAX_LIST:
        raise UsageError(f"too many values for {name}")
    return [v[:128] for v in values]


def form_int(value: str, what: str, low: int, high: int) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 9 and low <= int(text) <= high):
        raise UsageError(f"the {what} must be a whole number from {low} to {high}")
    return int(text)


def required(value: str, what: str) -> str:
    text = value.strip()
    if not text:
        raise UsageError(f"the {what} is required")
    return text
