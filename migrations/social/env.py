"""Alembic environment of the social service's migration line."""

from services.social.models import db
from shared.migrate import run_env

run_env("social", db.metadata)
