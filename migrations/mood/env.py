"""Alembic environment of the mood service's migration line."""

from services.mood.models import db
from shared.migrate import run_env

run_env("mood", db.metadata)
