"""Social service: activities, feeds, sharing and recommendations."""

from services.social.app import create_app

__all__ = ["create_app"]
