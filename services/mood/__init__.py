"""Mood service: mood entries, streaks and analytics."""

from services.mood.app import create_app

__all__ = ["create_app"]
