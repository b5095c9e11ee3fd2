"""Persistence: SQLAlchemy models, the engine and sessions, and every SQL statement of the service."""
