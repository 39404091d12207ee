"""Targets: "file.py[:name]" or "pkg.mod:name" -> model + example inputs; input specs -> tensors."""
