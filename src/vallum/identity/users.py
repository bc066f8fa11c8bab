"""Console users. First run creates ``admin`` with a one-time password.

Passwords are hashed with argon2id; the one-time password must be changed at
first login (the identity issue adds login, MFA and sessions on top of this).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from sqlalchemy import Engine, insert, select

from vallum.clock import now_text
from vallum.store.models import User

ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class OneTimeCredentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password by accident
        return f"OneTimeCredentials(username={self.username!r}, password=<hidden>)"


def create_first_admin(engine: Engine) -> OneTimeCredentials | None:
    """Create the admin with a random one-time password, unless users exist."""
    with engine.begin() as conn:
        if conn.execute(select(User.id).limit(1)).first() is not None:
            return None
        password = secrets.token_urlsafe(18)
        conn.execute(
            insert(User).values(
                username=ADMIN,
                password_hash=PasswordHasher().hash(password),
                must_change_password=True,
                roles="admin",
                created_at=now_text(),
            )
        )
    return OneTimeCredentials(ADMIN, password)
