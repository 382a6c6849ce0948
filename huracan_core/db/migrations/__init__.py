"""Alembic migration scripts for Huracan's database; run them with `huracan db upgrade`."""
