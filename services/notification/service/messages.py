"""What each event tells whom: the drafts of the notifications it creates."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from services.notification.service.inbox import Draft, EmailDraft


def _id(value: str) -> uuid.UUID:
    return uuid.UUID(value)


# What the recipient can do next, closing each type's email.
_NEXT_STEP = {
    "hug_received": "Open HugMood to see it, and maybe send one back.",
    "hug_request": "Open HugMood to answer it.",
    "group_hug_invite": "Open HugMood to join in.",
    "friend_request": "Open HugMood to accept or decline it.",
    "friend_accepted": "Open HugMood to say hello.",
    "streak_milestone": "Open HugMood to check in today.",
}
_EMAIL_FOOTER = (
    "You get this email because email is on for this kind of notification. "
    "You can turn it off in your HugMood notification preferences."
)


def _draft(user_id: str, kind: str, title: str, body: str, data: dict[str, Any]) -> Draft:
    """A notification and its email, which says no more than the notification does in-app (its
    title and body) and goes to the owner's address, looked up when it is sent."""
    body = body[:1000]
    email = EmailDraft(None, f"HugMood: {title}", f"{body}\n\n{_NEXT_STEP[kind]}\n\n{_EMAIL_FOOTER}\n")
    return Draft(_id(user_id), kind, title, body, data, email)


def hug_sent(data: dict[str, Any]) -> list[Draft]:
    """The recipient of a hug learns of it."""
    label = data.get("type_label") or "hug"
    body = f"You received a {label}."
    if data.get("message"):
        body += f' "{data["message"]}"'
    return [
        _draft(
            data["recipient_id"],
            "hug_received",
            "You got a hug",
            body,
            {
                "hug_id": data["hug_id"],
                "sender_id": data["sender_id"],
                "hug_type": data.get("type"),
                "hug_request_id": data.get("hug_request_id"),
                "group_hug_id": data.get("group_hug_id"),
            },
        )
    ]


def hug_requested(data: dict[str, Any]) -> list[Draft]:
    """A direct hug request reaches its recipient; a community request (no recipient) nobody."""
    if not data.get("recipient_id"):
        return []
    body = "Someone would love a hug from you."
    if data.get("message"):
        body += f' "{data["message"]}"'
    return [
        _draft(
            data["recipient_id"],
            "hug_request",
            "A hug was requested",
            body,
            {"hug_request_id": data["hug_request_id"], "requester_id": data["requester_id"]},
        )
    ]


def group_hug_created(data: dict[str, Any]) -> list[Draft]:
    """Every participant but the creator is invited."""
    invited = dict.fromkeys(p for p in data.get("participant_ids", []) if p != data["creator_id"])
    return [
        _draft(
            participant,
            "group_hug_invite",
            "You're invited to a group hug",
            f'Join "{data.get("name") or "a group hug"}" before it ends.',
            {"group_hug_id": data["group_hug_id"], "creator_id": data["creator_id"], "expires_at": data["expires_at"]},
        )
        for participant in invited
    ]


def friend_requested(data: dict[str, Any]) -> list[Draft]:
    return [
        _draft(
            data["addressee_id"],
            "friend_request",
            "New friend request",
            "Someone would like to be your friend.",
            {"requester_id": data["requester_id"]},
        )
    ]


def friendship_accepted(data: dict[str, Any]) -> list[Draft]:
    return [
        _draft(
            data["user_id"],
            "friend_accepted",
            "Friend request accepted",
            "Your friend request was accepted.",
            {"friend_id": data["friend_id"]},
        )
    ]


def streak_milestone(data: dict[str, Any]) -> list[Draft]:
    days = int(data["days"])
    return [
        _draft(
            data["user_id"],
            "streak_milestone",
            f"{days}-day streak!",
            f"You have checked in {days} days in a row. Keep going!",
            {"days": days, "streak_start": data.get("streak_start")},
        )
    ]


def password_reset(data: dict[str, Any], reset_url: str) -> list[Draft]:
    """The token goes in the email only; the stored notification never holds it."""
    link = f"{reset_url}{quote(data['token'], safe='')}"
    email = EmailDraft(
        to=data["email"],
        subject="Reset your HugMood password",
        body=(
            "Someone (hopefully you) asked to reset your HugMood password.\n\n"
            f"Open this link to choose a new one:\n{link}\n\n"
            f"Or enter this code: {data['token']}\n\n"
            f"It works once, until {data.get('expires_at')}. If you did not ask, ignore this email."
        ),
    )
    return [
        Draft(
            _id(data["user_id"]),
            "password_reset",
            "Password reset requested",
            "A password reset was requested for your account. Check your email for the link.",
            {"expires_at": data.get("expires_at")},
            email,
        )
    ]


def email_verification(data: dict[str, Any], verify_url: str) -> list[Draft]:
    """The confirmation link goes to the address being verified, in the email only (the in-app
    copy, off by default, only says an email was sent)."""
    link = f"{verify_url}{quote(data['token'], safe='')}"
    email = EmailDraft(
        to=data["email"],
        subject="Confirm your HugMood email address",
        body=(
            "Someone (hopefully you) signed up for HugMood with this address.\n\n"
            f"Open this link to confirm it:\n{link}\n\n"
            f"Or enter this code: {data['token']}\n\n"
            f"It works once, until {data.get('expires_at')}. Until the address is confirmed, HugMood "
            "sends it nothing else. If you did not sign up, ignore this email."
        ),
    )
    return [
        Draft(
            _id(data["user_id"]),
            "email_verification",
            "Confirm your email address",
            "We sent a confirmation link to your email address.",
            {"expires_at": data.get("expires_at")},
            email,
        )
    ]
