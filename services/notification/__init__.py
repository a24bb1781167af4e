"""Notification service: notifications, long polling, devices, push and email."""

from services.notification.app import create_app

__all__ = ["create_app"]
