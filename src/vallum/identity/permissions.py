"""Named permissions and the built-in roles (sets of them), least privilege first.

A permission names one thing a principal may do (``models.sign``,
``ledger.read``). Roles are sets of permissions; the five built-in roles below
cannot be changed, and custom roles may be defined (``vallum roles create``) from
any subset. Every API route and console page declares the permission it needs.
"""

from __future__ import annotations

import enum


class Permission(enum.StrEnum):
    # ledger and evidence
    LEDGER_READ = "ledger.read"
    LEDGER_EXPORT = "ledger.export"
    LEDGER_VERIFY = "ledger.verify"
    CONTROLS_READ = "controls.read"
    CONTROLS_ATTEST = "controls.attest"
    REPORTS_READ = "reports.read"
    # API keys and encryption keys
    KEYS_READ = "keys.read"
    KEYS_CREATE = "keys.create"
    KEYS_ROTATE = "keys.rotate"
    KEYS_REVOKE = "keys.revoke"
    CRYPTO_ROTATE = "crypto.rotate"
    CRYPTO_SHRED = "crypto.shred"
    # people, roles, access
    USERS_READ = "users.read"
    USERS_MANAGE = "users.manage"
    ROLES_READ = "roles.read"
    ROLES_MANAGE = "roles.manage"
    ACCESS_REQUEST = "access.request"
    ACCESS_APPROVE = "access.approve"
    ACCESS_BREAK_GLASS = "access.break_glass"
    REVIEWS_READ = "reviews.read"
    REVIEWS_MANAGE = "reviews.manage"
    REVIEWS_CERTIFY = "reviews.certify"
    # models, datasets, deployments
    MODELS_READ = "models.read"
    MODELS_SCAN = "models.scan"
    MODELS_SIGN = "models.sign"
    MODELS_REGISTER = "models.register"
    MODELS_DEPLOY = "models.deploy"
    DEPLOYMENTS_APPROVE = "deployments.approve"
    DATASETS_READ = "datasets.read"
    DATASETS_MANAGE = "datasets.manage"
    # gateway, vendors, operations
    GATEWAY_USE = "gateway.use"
    VENDORS_MANAGE = "vendors.manage"
    ROUTES_MANAGE = "routes.manage"
    MONITOR_READ = "monitor.read"
    INCIDENTS_MANAGE = "incidents.manage"
    REDTEAM_RUN = "redteam.run"


P = Permission
_READ_ONLY = frozenset(
    {
        P.LEDGER_READ,
        P.LEDGER_EXPORT,
        P.LEDGER_VERIFY,
        P.CONTROLS_READ,
        P.REPORTS_READ,
        P.KEYS_READ,
        P.USERS_READ,
        P.ROLES_READ,
        P.REVIEWS_READ,
        P.MODELS_READ,
        P.DATASETS_READ,
        P.MONITOR_READ,
    }
)

#: The built-in roles. Every user may also request a time-boxed role (JIT).
BUILTIN_ROLES: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "security": frozenset(Permission) - {P.USERS_MANAGE, P.GATEWAY_USE},
    "ml-engineer": frozenset(
        {
            P.MODELS_READ,
            P.MODELS_SCAN,
            P.MODELS_SIGN,
            P.MODELS_REGISTER,
            P.MODELS_DEPLOY,
            P.DATASETS_READ,
            P.DATASETS_MANAGE,
            P.CONTROLS_READ,
            P.MONITOR_READ,
            P.GATEWAY_USE,
            P.ACCESS_REQUEST,
        }
    ),
    "app-developer": frozenset(
        {
            P.GATEWAY_USE,
            P.KEYS_READ,
            P.KEYS_CREATE,
            P.KEYS_ROTATE,
            P.KEYS_REVOKE,
            P.MODELS_READ,
            P.CONTROLS_READ,
            P.ACCESS_REQUEST,
        }
    ),
    "auditor": _READ_ONLY,
}

#: Roles whose holders must use MFA (policy 3.3.2); a setting can extend it to all.
MFA_REQUIRED_ROLES = frozenset({"admin", "security"})


def parse_permissions(names: list[str] | tuple[str, ...]) -> frozenset[Permission]:
    """Permissions from their names; ValueError naming the first unknown one."""
    out: set[Permission] = set()
    for name in names:
        try:
            out.add(Permission(name))
        except ValueError:
            raise ValueError(f"unknown permission {name!r}") from None
    return frozenset(out)
