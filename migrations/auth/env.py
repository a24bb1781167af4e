"""Alembic environment of the auth service's migration line."""

from services.auth.models import db
from shared.migrate import run_env

run_env("auth", db.metadata)
