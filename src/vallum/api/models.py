"""Response bodies of the REST API (pydantic), so OpenAPI describes them exactly."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str


class ControlOut(BaseModel):
    id: str
    section: str
    title: str
    kind: str
    status: str
    reason: str
    evidence_seqs: list[int]
    expires: str | None
    frameworks: dict[str, list[str]]


class ControlList(BaseModel):
    controls: list[ControlOut]


class EventOut(BaseModel):
    seq: int
    time: str
    actor: str
    action: str
    subject: str
    outcome: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


class EventList(BaseModel):
    events: list[EventOut]
    next_since: int | None = Field(description="Pass as `since` for the next page.")


class ProblemOut(BaseModel):
    seq: int
    what: str


class VerifyOut(BaseModel):
    ok: bool
    events: int
    checkpoints: int
    verified_up_to: int
    last_checkpoint: int
    problems: list[ProblemOut]
    checked_at: str | None = None


class CheckpointOut(BaseModel):
    origin: str
    tree_size: int
    root_hash: str
    time: str
    interval: int
    key_id: str
    signature: str


class CheckpointList(BaseModel):
    checkpoints: list[CheckpointOut]


class InclusionProofOut(BaseModel):
    """Proof that an event is in a signed checkpoint; checkable offline with the public key."""

    type: str = Field(description="Always `vallum.inclusion/v1`.")
    seq: int
    entry: str = Field(description="The event's canonical entry, exactly as it was hashed.")
    leaf_index: int
    tree_size: int
    proof: list[str] = Field(description="Merkle audit path: sibling hashes (hex), leaf first.")
    checkpoint: CheckpointOut
    public_key: str = Field(description="The instance's Ed25519 public key (hex).")


class InstanceOut(BaseModel):
    instance_id: str
    public_key: str
    key_id: str
    version: str
