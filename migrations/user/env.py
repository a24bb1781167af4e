"""Alembic environment of the user service's migration line."""

from services.user.models import db
from shared.migrate import run_env

run_env("user", db.metadata)
