"""Batch runs over archives: resumable per-item processing, reports and metrics, execution engines
(local processes, Ray)."""
