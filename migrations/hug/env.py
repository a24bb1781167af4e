"""Alembic environment of the hug service's migration line."""

from services.hug.models import db
from shared.migrate import run_env

run_env("hug", db.metadata)
