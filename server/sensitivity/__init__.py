"""Sensitivity scans: per-layer accuracy-versus-Winograd-sparsity curves as a job type."""
