"""Revisions, oldest first: v0001 (initial tables), v0002 (result retention), v0003
(tenants: jobs.tenant, tenants, api_keys, audit_events)."""
