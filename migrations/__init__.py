"""Alembic migration history: the only way tables are created."""
