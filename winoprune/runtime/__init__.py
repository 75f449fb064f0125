"""Sparse-Winograd inference from an export, without the training graph.

``export_model`` writes a pruned model as safetensors + a JSON manifest; ``load_export`` reads it
back (no pickle) into a ``SparseModel`` whose Winograd layers multiply only the nonzeros of Q.
"""

from winoprune.runtime.conv import SparseWinogradConv, choose_strategy
from winoprune.runtime.export import export_model, load_export, read_manifest
from winoprune.runtime.model import SparseModel

__all__ = [
    "SparseModel",
    "SparseWinogradConv",
    "choose_strategy",
    "export_model",
    "load_export",
    "read_manifest",
]
