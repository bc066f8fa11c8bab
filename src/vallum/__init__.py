"""Vallum: an AI security control plane.

Vallum enforces the technical controls of an AI security policy, records every
enforcement in a tamper-evident ledger, and proves the controls to auditors.
"""

__version__ = "0.1.0"
