"""The composition root: one FastAPI app serving the REST API, the console and health.

``create_app(settings)`` is the factory; nothing happens at import. The app opens
one Context for its lifetime and runs a full ledger verification in the
background every ``VERIFY_EVERY`` seconds, whose result the console badge and
``GET /api/v1/audit/verification`` show.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import FastAPI

from vallum import __version__
from vallum.api import problems
from vallum.api.routes import router
from vallum.clock import now_text
from vallum.config import VallumSettings
from vallum.console.pages import install as install_console
from vallum.context import Context, open_context
from vallum.errors import VallumError
from vallum.governance import audit as audit_service
from vallum.identity import jit
from vallum.identity.principal import Principal
from vallum.ledger.verify import VerifyReport

log = logging.getLogger(__name__)
VERIFY_EVERY = 300.0


@dataclass
class AppState:
    """What the app keeps for its lifetime (one per app, never module-global)."""

    ctx: Context
    report: VerifyReport | None = None
    checked_at: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def verify_now(self) -> VerifyReport:
        report = audit_service.verify(self.ctx)
        self.report, self.checked_at = report, now_text()
        return report

    def verify_loop(self) -> None:
        while not self.stop.is_set():
            try:
                # Grants expire by time on their own; this records each ending.
                jit.expire_due(self.ctx.directory, "system:vallum")
                self.verify_now()
            except VallumError as exc:
                log.warning("background verification failed: %s", exc.detail)
            except Exception:
                # A database error (say, PostgreSQL restarting) must not end the loop:
                # the thread would die and the badge would never be refreshed again.
                log.exception("background verification crashed; retrying in %.0f s", VERIFY_EVERY)
            self.stop.wait(VERIFY_EVERY)


def create_app(settings: VallumSettings, *, background_verify: bool = True) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = AppState(open_context(settings, Principal.system()))
        app.state.vallum = state
        thread = None
        if background_verify:
            thread = threading.Thread(target=state.verify_loop, name="vallum-verify", daemon=True)
            thread.start()
        try:
            yield
        finally:
            state.stop.set()
            if thread is not None:
                thread.join(timeout=30)
            state.ctx.close()

    app = FastAPI(
        title="Vallum",
        version=__version__,
        description="AI security control plane: controls, ledger and evidence.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        # The interactive docs pages load JavaScript from a CDN; a security product
        # does not, and these machines have no internet. The spec is /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    problems.install(app)
    app.include_router(router)
    install_console(app)
    return app
