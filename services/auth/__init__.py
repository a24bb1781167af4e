"""Auth service: accounts, passwords, tokens and the keys that sign them."""

from services.auth.app import create_app

__all__ = ["create_app"]
