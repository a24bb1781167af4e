"""Hug service: hugs, hug requests and group hugs."""

from services.hug.app import create_app

__all__ = ["create_app"]
