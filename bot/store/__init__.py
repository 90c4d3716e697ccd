"""The profile store: SQLAlchemy models and keyword-only repository functions.

This package is the only place that builds queries. Import the concept module you
need (``from bot.store import messages``) and call its functions with a session from
``Database.session()``.
"""

from bot.store.db import Database, StoreError

__all__ = ["Database", "StoreError"]
