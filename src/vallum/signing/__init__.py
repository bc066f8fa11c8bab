"""Model signing and verification (SEC-POL-012 3.4.1) in the OpenSSF Model Signing format.

``hash_model`` builds a manifest (a SHA-256 per file, hashed in parallel);
``sign_model`` writes a Sigstore bundle over an in-toto statement of that manifest,
signed with an EC private key, a certificate chain or Sigstore keyless;
``verify_model`` checks the bundle and names every file that differs. The files are
byte-compatible with the ``model_signing`` CLI in both directions.
"""

from vallum.signing.manifest import ModelManifest, hash_model
from vallum.signing.oms import Method
from vallum.signing.service import (
    SignResult,
    VerifyResult,
    default_signature,
    record_signed,
    record_verified,
    sign_model,
    verify_model,
)

__all__ = [
    "Method",
    "ModelManifest",
    "SignResult",
    "VerifyResult",
    "default_signature",
    "hash_model",
    "record_signed",
    "record_verified",
    "sign_model",
    "verify_model",
]
