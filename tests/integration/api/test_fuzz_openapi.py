"""Schemathesis against the app's own OpenAPI: no 5xx, and responses as documented.

Every operation in ``/openapi.json`` gets generated requests (valid ones, and
invalid ones where it has parameters) against a real SQLite installation whose
lifespan schemathesis runs; each response is checked against the document
(status code, content type, headers, body schema), invalid input must be
refused and valid input accepted, and any 5xx fails. Bounded to
``MAX_EXAMPLES`` per operation and mode so the module stays well under a minute.

Every generated request carries a valid key of a service account holding
``admin`` (every permission), so the fuzzing reaches the handlers behind
authorization; refusals themselves are tested in ``test_security``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.auth_helpers import role_header
from tests.conftest import make_settings
from vallum.app import create_app
from vallum.config import VallumSettings
from vallum.context import initialise, open_context

MAX_EXAMPLES = 30
EVENTS = 30  # recorded before the run, so `{seq}` operations can answer 200 too
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]
LEAKS = re.compile(r"Traceback|File \"[^\"]*\", line \d+|site-packages|<class '", re.IGNORECASE)

# The operations, read from the document itself (building the app does no I/O),
# so an operation added later is fuzzed without touching this file.
_DOC = create_app(VallumSettings.model_construct(data_dir=Path("unused"))).openapi()


def _modes(path: str, operation: dict[str, Any]) -> tuple[str, ...]:
    # Negative generation needs something to make invalid; an operation without
    # parameters has nothing (hypothesis would report it unsatisfiable). Random
    # seqs almost never exist, so `{seq}` operations also get existing ones.
    modes = ("positive", "negative") if operation.get("parameters") else ("positive",)
    return (*modes, "existing") if "{seq}" in path else modes


CASES = sorted(
    (method.upper(), path, mode)
    for path, item in _DOC["paths"].items()
    for method, operation in item.items()
    for mode in _modes(path, operation)
)


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    """The app on a fresh SQLite installation, as schemathesis loads it, and an admin key."""
    root = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as mp:  # conftest's environment cleaning is per test
        for key in list(os.environ):
            if key.startswith("VALLUM_") and not key.startswith("VALLUM_TEST_"):
                mp.delenv(key)
        mp.chdir(root)
        conf = make_settings(root / "data", None, ledger_checkpoint_events=10)
    initialise(conf)
    ctx = open_context(conf)
    try:
        for i in range(EVENTS):
            ctx.record("test.fuzzed", f"thing:{i}", data={"i": i})
        admin = role_header(ctx, "admin")
    finally:
        ctx.close()  # signs a checkpoint over everything, so every seq has a proof
    app = create_app(conf, background_verify=False)
    try:
        # Starts the app's lifespan, kept running until shutdown_lifespans().
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=schemathesis.Config())
        yield schema, admin
    finally:
        asgi.shutdown_lifespans()


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_operation_conforms_and_never_5xx(
    api_schema: tuple[Any, dict[str, str]], method: str, path: str, mode: str
) -> None:
    schema, admin = api_schema
    operation = schema[path][method]
    if mode == "existing":
        cases = st.integers(1, EVENTS).flatmap(
            lambda seq: operation.as_strategy(path_parameters={"seq": seq})
        )
    else:
        cases = operation.as_strategy(generation_mode=GenerationMode(mode))

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=admin, checks=CHECKS)
        assert response.status_code not in {401, 403}, response.text  # the key was accepted
        assert response.status_code < 500, response.text
        assert LEAKS.search(response.text) is None, response.text
        if response.status_code >= 400:
            assert response.headers["content-type"] == ["application/problem+json"]

    run()
