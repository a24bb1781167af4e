"""User service: profiles, privacy settings, friendships and search."""

from services.user.app import create_app

__all__ = ["create_app"]
