"""Alembic migrations of the SQL job store (SQLite and PostgreSQL).

Run through :mod:`eigen.kernel.store.migrate` (no ``alembic.ini``): the store upgrades to
head when it opens, and ``eigen-server migrate`` does the same on demand.
"""
