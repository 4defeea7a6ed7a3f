"""Revisions, oldest first: v0001 (initial tables), v0002 (result retention)."""
