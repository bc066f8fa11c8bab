"""Encrypted, versioned model registry: fingerprints, AI-BOM and the deployment gate."""
