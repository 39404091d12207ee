"""Shared by the tests: re-exports for reading ``Finding.source``."""
from model_audit.render.locations import split_source

__all__ = ["split_source"]
