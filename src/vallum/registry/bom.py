"""AI-BOM: a CycloneDX 1.6 JSON document for one registered version.

Built with cyclonedx-python-lib: a ``machine-learning-model`` component (the
manifest digest as its SHA-256 hash, each file as a ``file`` sub-component with
its own hash, registration facts as ``vallum:*`` properties), a ``data``
component per training dataset, and a ``library`` component (with a purl) per
installed Python distribution. The library does not model ``modelCard`` or a
data component's ``data`` yet, so those are added to its JSON output as the 1.6
schema defines them, and the whole document is then validated with the
library's strict 1.6 JSON validator before anyone sees it.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vallum.clock import utcnow
from vallum.errors import VallumError
from vallum.registry.depaudit import AuditResult
from vallum.registry.versions import StoredFile, VersionInfo

if TYPE_CHECKING:
    from cyclonedx.model import Property
    from cyclonedx.model.component import Component
    from cyclonedx.model.vulnerability import Vulnerability
    from packageurl import PackageURL

SPEC_VERSION = "1.6"


@dataclass(frozen=True, slots=True)
class Distribution:
    """One installed Python distribution."""

    name: str
    version: str
    license_expression: str | None = None

    @property
    def purl(self) -> PackageURL:
        from packageurl import PackageURL

        return PackageURL(type="pypi", name=_normalise(self.name), version=self.version)


@dataclass(frozen=True, slots=True)
class BuiltBom:
    text: str
    serial_number: str
    components: int


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions() -> list[Distribution]:
    """Every distribution importlib.metadata sees in this environment, by normalised name."""
    found: dict[str, Distribution] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        expression = dist.metadata["License-Expression"]
        key = _normalise(name)
        if key not in found:
            found[key] = Distribution(name, dist.version, expression or None)
    return [found[k] for k in sorted(found)]


def _vallum_version() -> str:
    try:
        return importlib.metadata.version("vallum")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_bom(
    info: VersionInfo,
    files: Iterable[StoredFile],
    distributions: Iterable[Distribution],
    audit: AuditResult,
) -> BuiltBom:
    """The validated CycloneDX 1.6 JSON text for ``info``."""
    # Imported here: the JSON-schema validator takes seconds to import, and only
    # `vallum models bom` needs it.
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.license import LicenseExpression
    from cyclonedx.model.tool import ToolRepository
    from cyclonedx.output.json import JsonV1Dot6
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    serial = uuid.uuid4()
    model_ref = f"model:{info.ref}"
    model = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=info.ref.name,
        version=info.ref.version,
        bom_ref=model_ref,
        description=info.card.description,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=info.manifest_digest)],
        properties=_model_properties(info),
        components=[
            Component(
                type=ComponentType.FILE,
                name=f.path,
                bom_ref=f"file:{info.ref}:{f.path}",
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f.sha256)],
                properties=[Property(name="vallum:format", value=f.format)],
            )
            for f in files
        ],
    )
    datasets = [
        Component(
            type=ComponentType.DATA,
            name=d.name,
            version=d.version,
            bom_ref=f"dataset:{d.name}@{d.version}",
        )
        for d in info.datasets
    ]
    libraries = {}
    for dist in distributions:
        purl = dist.purl
        libraries[purl.name] = Component(
            type=ComponentType.LIBRARY,
            name=dist.name,
            version=dist.version,
            purl=purl,
            bom_ref=purl.to_string(),
            licenses=[LicenseExpression(dist.license_expression)]
            if dist.license_expression
            else None,
        )
    bom = Bom(
        serial_number=serial,
        metadata=BomMetaData(
            timestamp=utcnow(),
            tools=ToolRepository(
                components=[
                    Component(
                        type=ComponentType.APPLICATION, name="vallum", version=_vallum_version()
                    )
                ]
            ),
            properties=_audit_properties(audit),
        ),
        components=[model, *datasets, *libraries.values()],
        vulnerabilities=_vulnerabilities(audit, libraries),
    )
    doc = json.loads(JsonV1Dot6(bom).output_as_string())
    for component in doc.get("components", []):
        if component.get("bom-ref") == model_ref:
            component["modelCard"] = _model_card(info)
        elif component.get("type") == "data":
            component["data"] = [{"type": "dataset", "name": component["name"]}]
    text = json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        first = (str(error).strip().splitlines() or ["?"])[0][:300]
        raise VallumError(f"the generated AI-BOM is not valid CycloneDX {SPEC_VERSION}: {first}")
    return BuiltBom(text, serial.urn, len(doc.get("components", [])))


def _model_properties(info: VersionInfo) -> list[Property]:
    from cyclonedx.model import Property

    facts = {
        "vallum:manifest-digest": info.manifest_digest,
        "vallum:format": info.format,
        "vallum:framework": info.framework,
        "vallum:layout": info.layout,
        "vallum:size": str(info.total_size),
        "vallum:owner": info.owner,
        "vallum:signed": "true" if info.signed else "false",
        "vallum:signature-method": info.signature_method,
        "vallum:key-fingerprint": info.key_fingerprint,
        "vallum:registered-by": info.registered_by,
        "vallum:registered-at": info.created_at,
    }
    return [Property(name=k, value=v) for k, v in facts.items() if v is not None]


def _model_card(info: VersionInfo) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if info.card.task:
        params["task"] = info.card.task
    if info.card.architecture:
        params["modelArchitecture"] = info.card.architecture
    if info.datasets:
        params["datasets"] = [{"ref": f"dataset:{d.name}@{d.version}"} for d in info.datasets]
    card: dict[str, Any] = {"modelParameters": params}
    considerations: dict[str, Any] = {}
    if info.card.use_cases:
        considerations["useCases"] = list(info.card.use_cases)
    if info.card.limitations:
        considerations["technicalLimitations"] = list(info.card.limitations)
    if considerations:
        card["considerations"] = considerations
    return card


def _audit_properties(audit: AuditResult) -> list[Property]:
    from cyclonedx.model import Property

    props = [Property(name="vallum:vulnerabilities", value=str(audit.status))]
    if audit.reason:
        props.append(Property(name="vallum:vulnerabilities-reason", value=audit.reason))
    return props


def _vulnerabilities(audit: AuditResult, libraries: dict[str, Component]) -> list[Vulnerability]:
    from cyclonedx.model import XsUri
    from cyclonedx.model.vulnerability import (
        BomTarget,
        Vulnerability,
        VulnerabilityAdvisory,
        VulnerabilitySource,
    )

    out = []
    for v in audit.vulnerabilities:
        target = libraries.get(_normalise(v.package))
        affects = [BomTarget(ref=str(target.bom_ref))] if target is not None else []
        out.append(
            Vulnerability(
                bom_ref=f"vuln:{v.id}:{_normalise(v.package)}@{v.version}",
                id=v.id,
                source=VulnerabilitySource(name="pip-audit"),
                description=v.description or None,
                recommendation=(
                    f"upgrade {v.package} to {', '.join(v.fix_versions)}"
                    if v.fix_versions
                    else None
                ),
                advisories=[
                    VulnerabilityAdvisory(url=XsUri(f"https://osv.dev/vulnerability/{v.id}"))
                ],
                affects=affects,
            )
        )
    return out
