"""Static model-file scanner (SEC-POL-012 3.1.2, 3.4.1): never loads what it scans."""

from vallum.scan.service import record_scan, scan_path
from vallum.scan.verdict import FileResult, Finding, Severity, Verdict

__all__ = ["FileResult", "Finding", "Severity", "Verdict", "record_scan", "scan_path"]
