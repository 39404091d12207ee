"""The IR: LayerGraph and Layer, the op catalogue, layer kinds and layer facts (geometry, dropout p)."""
from .graph import Layer, LayerGraph

__all__ = ["Layer", "LayerGraph"]
