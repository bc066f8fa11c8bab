"""Model signing and verification in the OpenSSF Model Signing format (SEC-POL-012 3.4.1)."""
