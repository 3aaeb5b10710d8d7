"""Alembic environment: migrations run on the connection :func:`xrai.kb._db.migrate` passes in.

Run by hand (rarely needed): ``alembic -x url=sqlite:///xrai-kb/catalog.sqlite upgrade head`` with
``script_location = xrai.kb:migrations``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # command-line use
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = sa.create_engine(str(url))
    with engine.begin() as conn:
        context.configure(connection=conn, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
