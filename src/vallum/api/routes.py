"""REST routes under /api/v1 (each requires a permission) and health."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from vallum import __version__
from vallum.api.auth import Caller, requires
from vallum.api.models import (
    CheckpointList,
    ControlList,
    EventList,
    EventOut,
    Health,
    InclusionProofOut,
    InstanceOut,
    Problem,
    VerifyOut,
)
from vallum.api.problems import problem
from vallum.context import Context
from vallum.errors import NotInitializedError, UnavailableError
from vallum.governance import audit as audit_service
from vallum.governance.catalog import Framework
from vallum.governance.service import evaluate
from vallum.identity.permissions import Permission as P
from vallum.ledger.checkpoint import key_id_of
from vallum.store.models import LedgerHead
from vallum.store.schema import require_migrated

router = APIRouter()
#: What every route behind ``requires`` may answer, whatever else it does.
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No or bad credentials"},
    403: {"model": Problem, "description": "Missing permission"},
}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Bad request"},
    **AUTH_ERRORS,
    404: {"model": Problem, "description": "Not found"},
    503: {"model": Problem, "description": "Unavailable"},
}
MAX_SEQ = 2**53 - 1


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.vallum.ctx
    return ctx


Ctx = Annotated[Context, Depends(get_ctx)]


# Each parameter of these types authenticates the caller and requires one permission.
LedgerReader = Annotated[Caller, Depends(requires(P.LEDGER_READ))]
LedgerVerifier = Annotated[Caller, Depends(requires(P.LEDGER_VERIFY))]
ControlsReader = Annotated[Caller, Depends(requires(P.CONTROLS_READ))]


@router.get("/healthz", response_model=Health, tags=["health"])
def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=ERRORS, tags=["health"])
def readyz(ctx: Ctx) -> Any:
    """Readiness: database migrated, ledger head present, Redis answering if configured."""
    try:
        require_migrated(ctx.engine)
        try:
            with ctx.engine.connect() as conn:
                head = conn.execute(select(LedgerHead.id)).first()
        except SQLAlchemyError as exc:  # readiness answers 503, never 500
            raise UnavailableError(f"the database did not answer ({type(exc).__name__})") from exc
        if head is None:
            raise NotInitializedError("the ledger has no head row")
        if ctx.settings.redis_url is not None:
            from vallum.store.redis import ping

            ping(ctx.settings.redis_url.get_secret_value())
    except (NotInitializedError, UnavailableError) as exc:
        return problem(503, exc.code, "Not ready", exc.detail)
    return Health(status="ready")


@router.get("/api/v1/instance", response_model=InstanceOut, responses=AUTH_ERRORS, tags=["ledger"])
def instance(ctx: Ctx, _caller: LedgerReader) -> InstanceOut:
    """This instance's id and ledger public key (pin it to check proofs offline)."""
    pk = ctx.ledger.public_key
    return InstanceOut(
        instance_id=ctx.instance_id, public_key=pk.hex(), key_id=key_id_of(pk), version=__version__
    )


@router.get("/api/v1/controls", response_model=ControlList, responses=ERRORS, tags=["controls"])
def controls(ctx: Ctx, _caller: ControlsReader, framework: Framework | None = None) -> ControlList:
    """Status of every SEC-POL-012 control, with the ledger seqs behind it."""
    return ControlList.model_validate({"controls": [s.to_dict() for s in evaluate(ctx, framework)]})


@router.get("/api/v1/audit/events", response_model=EventList, responses=ERRORS, tags=["ledger"])
def list_events(
    ctx: Ctx,
    _caller: LedgerReader,
    since: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventList:
    """Events after seq ``since``, oldest first."""
    found = audit_service.events(ctx, since=since, limit=limit)
    return EventList(
        events=[EventOut.model_validate(e.to_dict()) for e in found],
        next_since=found[-1].seq if len(found) == limit else None,
    )


@router.get(
    "/api/v1/audit/events/{seq}", response_model=EventOut, responses=ERRORS, tags=["ledger"]
)
def get_event(
    ctx: Ctx, _caller: LedgerReader, seq: Annotated[int, Path(ge=1, le=MAX_SEQ)]
) -> EventOut:
    """One event."""
    return EventOut.model_validate(audit_service.event(ctx, seq).to_dict())


@router.get(
    "/api/v1/audit/verification", response_model=VerifyOut, responses=AUTH_ERRORS, tags=["ledger"]
)
def verification(request: Request, _caller: LedgerVerifier) -> VerifyOut:
    """The latest full verification of the ledger (run in the background)."""
    state = request.app.state.vallum
    report = state.report or state.verify_now()
    return VerifyOut.model_validate({**report.to_dict(), "checked_at": state.checked_at})


@router.get(
    "/api/v1/audit/proof/{seq}",
    response_model=InclusionProofOut,
    responses=ERRORS,
    tags=["ledger"],
)
def proof(
    ctx: Ctx, _caller: LedgerReader, seq: Annotated[int, Path(ge=1, le=MAX_SEQ)]
) -> InclusionProofOut:
    """Inclusion proof of event ``seq`` in the latest signed checkpoint."""
    return InclusionProofOut.model_validate(audit_service.inclusion_proof(ctx, seq))


@router.get(
    "/api/v1/audit/checkpoints",
    response_model=CheckpointList,
    responses=AUTH_ERRORS,
    tags=["ledger"],
)
def checkpoints(ctx: Ctx, _caller: LedgerReader) -> CheckpointList:
    """Every signed checkpoint."""
    return CheckpointList.model_validate({"checkpoints": audit_service.checkpoints(ctx)})
