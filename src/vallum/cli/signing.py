"""``vallum sign`` and ``vallum verify``: OpenSSF Model Signing signatures for models."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vallum.cli.options import State, pass_state
from vallum.errors import ExitStatus, NotInitializedError, VallumError
from vallum.signing import (
    Method,
    SignResult,
    VerifyResult,
    record_signed,
    record_verified,
    sign_model,
    verify_model,
)

if TYPE_CHECKING:
    from vallum.context import Context

_FILE = click.Path(dir_okay=False, path_type=Path)
_MODEL = click.argument("model", metavar="MODEL", type=click.Path(path_type=Path))
_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output as text for people or JSON for programs.",
)


def _signature_option(verb: str) -> Callable[[Any], Any]:
    return click.option(
        "--signature",
        type=_FILE,
        default=None,
        help=f"Signature file to {verb} (default: MODEL/model.sig for a directory, "
        "MODEL.sig for a file).",
    )


@click.command()
@_MODEL
@click.option("--private-key", type=_FILE, default=None, help="EC private key (PEM) to sign with.")
@click.option(
    "--signing-certificate",
    type=_FILE,
    default=None,
    help="Certificate of --private-key (PEM): sign with a certificate chain.",
)
@click.option(
    "--certificate-chain",
    type=_FILE,
    multiple=True,
    help="Intermediate/root certificates (PEM) to embed; repeatable.",
)
@click.option("--sigstore", is_flag=True, help="Sign keyless with Sigstore (needs network).")
@click.option(
    "--identity-token",
    envvar="SIGSTORE_IDENTITY_TOKEN",
    metavar="TOKEN",
    default=None,
    help="OIDC token for --sigstore (else SIGSTORE_IDENTITY_TOKEN, ambient credentials).",
)
@_signature_option("write")
@_FORMAT
@pass_state
def sign(
    state: State,
    model: Path,
    private_key: Path | None,
    signing_certificate: Path | None,
    certificate_chain: tuple[Path, ...],
    sigstore: bool,
    identity_token: str | None,
    signature: Path | None,
    fmt: str,
) -> int:
    """Sign a model (a file or a directory) in the OpenSSF Model Signing format.

    Every file is hashed (SHA-256, in parallel) into an in-toto statement, signed
    into a Sigstore bundle that the `model_signing` CLI also verifies. Symbolic
    links are refused. The signing is recorded in the ledger (`models.signed`)
    when Vallum is initialised.
    """
    result = sign_model(
        model,
        private_key=private_key,
        certificate_chain=certificate_chain,
        signing_certificate=signing_certificate,
        sigstore=sigstore,
        signature=signature,
        identity_token=identity_token,
    )
    _emit(result, fmt, "signed")
    _record(state, "the signing", lambda ctx: record_signed(ctx, result))
    return int(ExitStatus.OK)


@click.command()
@_MODEL
@_signature_option("check")
@click.option("--public-key", type=_FILE, default=None, help="EC public key (PEM) to verify with.")
@click.option(
    "--certificate-chain",
    type=_FILE,
    multiple=True,
    help="Trusted certificates (PEM) the signing certificate must chain to; repeatable.",
)
@click.option("--identity", default=None, help="Keyless: the signer's expected identity.")
@click.option("--oidc-issuer", default=None, help="Keyless: the identity's expected OIDC issuer.")
@_FORMAT
@pass_state
def verify(
    state: State,
    model: Path,
    signature: Path | None,
    public_key: Path | None,
    certificate_chain: tuple[Path, ...],
    identity: str | None,
    oidc_issuer: str | None,
    fmt: str,
) -> int:
    """Verify a model against its OpenSSF Model Signing signature.

    Exit 0 when the signature verifies and every file matches; 1 when the
    signature does not verify or a file was changed, added, removed or renamed,
    or the model holds a symbolic link (each is named); 2 when the signature or
    key file is missing or unreadable. Recorded in the ledger (`models.verified`)
    when Vallum is initialised.
    """
    method = (
        Method.KEY
        if public_key
        else Method.CERTIFICATE
        if certificate_chain
        else Method.SIGSTORE
        if identity or oidc_issuer
        else "none"
    )
    try:
        result = verify_model(
            model,
            signature=signature,
            public_key=public_key,
            certificate_chain=certificate_chain,
            identity=identity,
            oidc_issuer=oidc_issuer,
        )
    except VallumError as exc:
        code = exc.code
        _record(
            state,
            "the failed verification",
            lambda ctx: record_verified(ctx, model, str(method), None, error_code=code),
        )
        raise
    _emit(result, fmt, "verified")
    _record(
        state, "the verification", lambda ctx: record_verified(ctx, model, result.method, result)
    )
    return int(ExitStatus.OK)


def _emit(result: SignResult | VerifyResult, fmt: str, verb: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    fp = f", key sha256:{result.key_fingerprint[:16]}" if result.key_fingerprint else ""
    click.echo(
        f"{verb} {result.model}: {len(result.manifest.files)} files, "
        f"digest {result.manifest.digest}\n"
        f"signature {result.signature} ({result.method}{fp})"
    )


def _record(state: State, what: str, record: Callable[[Context], int]) -> None:
    # Without a data directory there is nothing to record into: say so before
    # importing the kernel (SQLAlchemy, Alembic), which costs start-up time.
    if state.data_dir_missing():
        click.echo(f"vallum: Vallum is not initialised; {what} was not recorded", err=True)
        return
    try:
        ctx = state.context()
    except NotInitializedError:
        click.echo(f"vallum: Vallum is not initialised; {what} was not recorded", err=True)
        return
    with ctx:
        record(ctx)
