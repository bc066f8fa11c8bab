"""Encrypted model registry (SEC-POL-012 3.1.2, 3.4.1): versions, fingerprints, AI-BOM, gate.

``register`` scans, hashes, checks the signature of and stores a model version
encrypted; ``export`` decrypts it again, re-verified; ``identify`` tells which
registered version a file or folder is, exactly or by shared tensors;
``generate_bom`` writes its CycloneDX 1.6 AI-BOM; ``gate`` decides whether it
may be deployed. Each takes a ``vallum.context.Context`` and records its events.
"""

from vallum.registry.aibom import GeneratedBom, generate_bom, stored_bom
from vallum.registry.export import Exported, export
from vallum.registry.gate import GateCheck, GateResult, gate
from vallum.registry.identify import Identification, Match, identify
from vallum.registry.policy import GatePolicy, load_policy
from vallum.registry.service import Registered, RegisterRequest, register
from vallum.registry.versions import (
    Dataset,
    ModelCard,
    Ref,
    VersionDetail,
    VersionInfo,
    detail,
    list_versions,
)

__all__ = [
    "Dataset",
    "Exported",
    "GateCheck",
    "GatePolicy",
    "GateResult",
    "GeneratedBom",
    "Identification",
    "Match",
    "ModelCard",
    "Ref",
    "RegisterRequest",
    "Registered",
    "VersionDetail",
    "VersionInfo",
    "detail",
    "export",
    "gate",
    "generate_bom",
    "identify",
    "list_versions",
    "load_policy",
    "register",
    "stored_bom",
]
