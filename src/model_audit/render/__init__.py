"""Renderers: an AuditReport in, text out (table, json, markdown, html, sarif, github)."""
