"""Alembic migrations of the knowledge-base catalogue (run automatically by ``KnowledgeBase.open``)."""
