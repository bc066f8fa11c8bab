"""First run: ``vallum init`` creates ``admin`` with a one-time password.

The password is hashed with argon2id (identity.accounts) and must be changed at
first login, together with MFA enrolment.
"""

from __future__ import annotations

from dataclasses import dataclass

ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class OneTimeCredentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password by accident
        return f"OneTimeCredentials(username={self.username!r}, password=<hidden>)"
