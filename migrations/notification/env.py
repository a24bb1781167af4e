"""Alembic environment of the notification service's migration line."""

from services.notification.models import db
from shared.migrate import run_env

run_env("notification", db.metadata)
