"""Security of the public and internal edges: who calls (principals from mTLS, JWT or API
keys), what they may do (one permission table, a reloadable policy with quotas), and a
record of both (audit events). See docs/security.md."""
