"""The HugMood web app in Chromium against the real fleet: two people befriend and hug live, the
password-reset email's link, stored script that never runs, a phone-sized screen, the keyboard,
the cookie session, a service down, offline."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, new_name, register, screenshot, sign_in
from tests.e2e.fleet import wait_for

XSS = ["<img src=x onerror=alert(1)>", '"><script>alert(2)</script>']


def sign_up_in_the_app(watched, username: str, display_name: str = "") -> None:
    page = watched.page
    page.goto("/")
    page.wait_for_url("**/signin")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    if display_name:
        page.get_by_label("Display name (optional)").fill(display_name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/today")


def settled(page, title: str | None = None) -> None:
    """The screen titled `title` is shown and every section of it has loaded (the long poll
    keeps the network busy for good, so "network idle" never comes)."""
    if title is None:
        expect(page.locator("main h1")).to_be_visible()
    else:
        expect(page.locator("main h1")).to_have_text(title)
    expect(page.get_by_text("Loading…")).to_have_count(0)


def test_pages_carry_a_strict_policy_and_load_without_errors(new_page, web_fleet):
    watched = new_page()
    response = watched.page.goto("/signin")
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    expect(watched.page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert watched.console_errors == []


def test_two_people_befriend_and_a_hug_arrives_live(new_page, web_fleet, shots):
    ana, ben = new_page(), new_page()
    ana_name, ben_name = new_name("ana"), new_name("ben")
    sign_up_in_the_app(ana, ana_name, "Ana")
    sign_up_in_the_app(ben, ben_name, "Ben")

    # Ben finds Ana and asks to be friends; Ana accepts.
    ben.page.get_by_role("link", name="Friends").click()
    ben.page.get_by_label("Find people by name or username").fill(ana_name)
    ben.page.get_by_role("button", name="Search").click()
    ben.page.get_by_role("button", name="Add friend").click()
    expect(ben.page.locator("#toast")).to_contain_text("Friend request sent")
    ana.page.get_by_role("link", name="Friends").click()
    ana.page.get_by_role("button", name="Accept").click()
    expect(ana.page.locator("#toast")).to_contain_text("You are friends now")
    expect(ana.page.get_by_role("link", name="Ben")).to_be_visible()
    screenshot(ana.page, shots, "friends", docs=True)

    # Ana records a mood in a few taps.
    ana.page.get_by_role("link", name="Today").click()
    ana.page.get_by_role("radio", name="calm").click()
    ana.page.get_by_label("Tags", exact=True).fill("morning, walk")
    ana.page.get_by_label("Note", exact=True).fill("A quiet walk before work.")
    ana.page.get_by_role("button", name="Record mood").click()
    expect(ana.page.get_by_role("status").filter(has_text="Recorded: calm")).to_be_visible()
    expect(ana.page.locator("ul.entries")).to_contain_text("A quiet walk before work.")
    screenshot(ana.page, shots, "today", docs=True)

    # Ben opens Ana's page from his friends and sends a hug; it reaches Ana's open page live.
    ben.page.get_by_role("link", name="Friends").click()
    ben.page.get_by_role("link", name="Ana").click()
    expect(ben.page.get_by_role("heading", name="Ana")).to_be_visible()
    ben.page.get_by_label("Message (optional)").fill("Thinking of you")
    ben.page.get_by_role("button", name="Send hug").click()
    sent = time.monotonic()
    expect(ben.page.get_by_role("status").filter(has_text="Hug sent")).to_be_visible()
    expect(ana.page.locator("#toast")).to_contain_text("Thinking of you", timeout=2000)
    assert time.monotonic() - sent < 2.5
    expect(ana.page.locator(".badge")).not_to_be_hidden()
    screenshot(ben.page, shots, "person", docs=True)

    # The hug is in Ana's received list, marked unread, and her notifications list it.
    ana.page.get_by_role("link", name="Hugs").click()
    received = ana.page.locator("ul.hugs").first
    expect(received).to_contain_text("Thinking of you")
    expect(received.locator(".tag-new")).to_have_count(1)
    expect(ana.page.locator("#toast.show")).to_have_count(0, timeout=6000)
    screenshot(ana.page, shots, "hugs", docs=True)
    received.get_by_role("button", name="Mark read").click()
    expect(received.locator(".tag-new")).to_have_count(0)
    ana.page.get_by_role("link", name=re.compile("Alerts")).click()
    expect(ana.page.locator("ul.notifications")).to_contain_text("Thinking of you")
    screenshot(ana.page, shots, "notifications", docs=True)
    ana.page.get_by_role("button", name="Mark all read").click()
    expect(ana.page.locator(".badge")).to_be_hidden()
    expect(ana.page.locator("ul.notifications .tag-new")).to_have_count(0)
    hug_note = ana.page.locator("ul.notifications > li").filter(has_text="Thinking of you")
    hug_note.get_by_role("button", name="Delete").click()
    expect(ana.page.locator("ul.notifications")).not_to_contain_text("Thinking of you")
    for watched in (ana, ben):
        assert watched.dialogs == [] and watched.csp_violations() == []


def test_password_reset_from_the_email_link_to_signing_in(new_page, web_fleet, shots):
    account = register(web_fleet.gateway)
    email = account["user"]["email"]
    watched = new_page()
    page = watched.page
    page.goto("/signin")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Your email").fill(email)
    page.get_by_role("button", name="Send reset link").click()
    expect(page.locator("main p.status")).to_contain_text("on its way")

    sent = Path(web_fleet.env["NOTIFICATION_RECORDING_PATH"])
    mail = wait_for(
        lambda: (
            sent.exists()
            and [
                line
                for line in sent.read_text().splitlines()
                if email in line and "/reset-password?token=" in line and "Reset your HugMood password" in line
            ]
        ),
        what="the reset email",
    )
    link = re.search(r"https?://[^\s\"\\]+/reset-password\?token=[A-Za-z0-9_%.~-]+", json.dumps(json.loads(mail[-1])))
    assert link, mail[-1]
    parts = urlsplit(link.group(0))
    page.goto(f"{parts.path}?{parts.query}")  # the link, opened on this fleet's gateway
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    assert "token" not in page.url  # the app takes the token out of the address bar
    page.get_by_label("New password", exact=True).fill("a brand new morning")
    page.get_by_label("New password again").fill("a brand new morning")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("status").filter(has_text="Your password is changed")).to_be_visible()
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Username or email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("main p.status")).to_contain_text("do not match")
    page.get_by_label("Password").fill("a brand new morning")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/today")
    assert watched.csp_violations() == []


def test_stored_script_in_every_user_text_never_runs(new_page, web_fleet, shots):
    gateway = web_fleet.gateway
    evil, friend = register(gateway, display_name=XSS[0]), register(gateway, display_name=XSS[1])
    evil_id, friend_id = evil["user"]["id"], friend["user"]["id"]
    h_evil, h_friend = evil["headers"], friend["headers"]

    def call(method: str, path: str, headers: dict, **kwargs) -> requests.Response:
        response = requests.request(method, gateway + path, headers=headers, timeout=10, **kwargs)
        assert response.status_code < 300, (path, response.text)
        return response

    call("PUT", f"/api/v1/users/{evil_id}", h_evil, json={"bio": XSS[1] + " " + XSS[0], "location": XSS[0]})
    call("POST", f"/api/v1/users/{friend_id}/friends", h_evil, json={})
    call("PUT", f"/api/v1/users/me/friends/{evil_id}", h_friend, json={"status": "accepted"})
    call(
        "POST",
        "/api/v1/moods",
        h_evil,
        json={"mood": XSS[0], "intensity": 0.5, "note": XSS[1], "tags": XSS, "is_public": True},
    )
    call("POST", "/api/v1/hugs", h_friend, json={"recipient_id": evil_id, "type": "warm", "message": XSS[0] + XSS[1]})
    call("POST", "/api/v1/hugs/group", h_friend, json={"name": XSS[1], "message": XSS[0], "participant_ids": [evil_id]})
    call("POST", "/api/v1/hugs/request", h_friend, json={"recipient_id": evil_id, "message": XSS[1]})

    watched = new_page()
    page = watched.page
    sign_in(watched, evil)
    for path, where in [
        ("/today", "ul.entries"),
        ("/history", "ul.entries"),
        (f"/people/{evil_id}", "main"),
        ("/hugs", "main"),
        ("/notifications", "ul.notifications"),
        ("/friends", "main"),
        ("/feed", "main"),
        ("/settings", "main"),
    ]:
        page.goto(path)
        settled(page)
        expect(page.locator(where).first).to_be_visible()
        if path in ("/today", "/history", f"/people/{evil_id}", "/hugs", "/notifications"):
            expect(page.locator("main")).to_contain_text(XSS[0])
        if path == "/hugs":
            expect(page.locator("ul.groups")).to_contain_text(XSS[1])  # a group's name
        assert page.locator("img[src='x'], main script").count() == 0, path
    page.goto(f"/people/{friend_id}")
    expect(page.get_by_role("heading", name=XSS[1])).to_be_visible()
    assert page.locator("img[src='x'], main script").count() == 0
    assert watched.dialogs == []
    assert watched.csp_violations() == []


def test_a_phone_sized_screen_and_the_keyboard_alone(new_page, web_fleet, shots):
    account = register(web_fleet.gateway)
    requests.post(
        f"{web_fleet.gateway}/api/v1/moods",
        headers=account["headers"],
        json={"mood": "happy", "intensity": 0.7, "valence": 0.8, "tags": ["sun"]},
        timeout=10,
    )
    watched = new_page(375, 667)
    page = watched.page
    page.goto("/signin")
    # Keyboard only: the first field has focus; Tab moves on, Enter submits.
    page.keyboard.type(account["user"]["username"])
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/today")
    for name, path in [
        ("today", "/today"),
        ("history", "/history"),
        ("friends", "/friends"),
        ("hugs", "/hugs"),
        ("feed", "/feed"),
        ("notifications", "/notifications"),
        ("settings", "/settings"),
    ]:
        page.goto(path)
        settled(page)
        expect(page.locator("h1")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, (path, width)
        # Every form control has a label (or an accessible name).
        unlabelled = page.evaluate(
            """[...document.querySelectorAll('main input, main select, main textarea')]
                 .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                 .map(e => e.name || e.outerHTML.slice(0, 60))"""
        )
        assert unlabelled == [], (path, unlabelled)
        screenshot(page, shots, f"phone-{name}", docs=name in ("today", "history", "settings"))
    assert watched.csp_violations() == []


def test_the_session_survives_a_reload_with_no_token_a_script_can_read(new_page, web_fleet):
    account = register(web_fleet.gateway)
    watched = new_page()
    page = watched.page
    sign_in(watched, account)
    page.reload()
    page.wait_for_url("**/today")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    stored = page.evaluate("localStorage.length + sessionStorage.length")
    assert stored == 0
    assert "hm_refresh" not in page.evaluate("document.cookie")
    # Several refreshes at once make one request.
    refreshes = []
    page.on("request", lambda r: r.url.endswith("/app/session/refresh") and refreshes.append(r.url))
    page.evaluate("import('/assets/api.js').then(api => Promise.all([api.refresh(), api.refresh(), api.refresh()]))")
    assert len(refreshes) == 1
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin")
    page.goto("/today")
    page.wait_for_url("**/signin?next=%2Ftoday")


def test_a_shared_mood_opens_as_a_public_page(new_page, web_fleet):
    gateway = web_fleet.gateway
    account = register(gateway)
    headers = account["headers"]
    requests.put(
        f"{gateway}/api/v1/users/{account['user']['id']}/privacy",
        headers=headers,
        json={"share_moods_with": "public"},
        timeout=10,
    )
    mood = requests.post(
        f"{gateway}/api/v1/moods",
        headers=headers,
        json={"mood": "hopeful <b>", "intensity": 0.6, "is_public": True},
        timeout=10,
    ).json()
    share = requests.post(
        f"{gateway}/api/v1/social/share",
        headers=headers,
        json={"content_type": "mood", "content_id": mood["id"], "platform": "link"},
        timeout=10,
    )
    assert share.status_code == 201, share.text
    path = urlsplit(share.json()["share_url"]).path
    assert requests.get(gateway + path, timeout=10).json()["mood"] == "hopeful <b>"  # JSON for API clients
    watched = new_page()
    response = watched.page.goto(path)
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    expect(watched.page.get_by_role("heading", name="A shared mood")).to_be_visible()
    expect(watched.page.locator("dl")).to_contain_text("hopeful <b>")
    gone = watched.page.goto(path.rstrip("/") + "x")
    assert gone.status == 404
    expect(watched.page.get_by_role("heading", name="Nothing to see here")).to_be_visible()


def test_sharing_a_private_mood_says_what_to_change(new_page, web_fleet):
    account = register(web_fleet.gateway)
    requests.post(
        f"{web_fleet.gateway}/api/v1/moods",
        headers=account["headers"],
        json={"mood": "quiet", "intensity": 0.4},
        timeout=10,
    )
    watched = new_page()
    sign_in(watched, account)
    watched.page.get_by_role("link", name="History").click()
    watched.page.get_by_role("button", name="Share").click()
    expect(watched.page.get_by_role("alert")).to_contain_text("Settings → Privacy")


def test_offline_shows_a_banner_and_recovers(new_page, web_fleet):
    account = register(web_fleet.gateway)
    watched = new_page()
    sign_in(watched, account)
    page = watched.page
    page.context.set_offline(True)
    page.get_by_role("link", name="History").click()
    expect(page.locator("#offline")).to_contain_text("offline")
    page.context.set_offline(False)
    expect(page.locator("#offline")).to_be_hidden(timeout=8000)
    expect(page.locator("ul.entries")).to_be_visible()


def test_a_service_down_degrades_only_its_part_of_the_page(new_page, web_fleet, shots):
    account = register(web_fleet.gateway)
    watched = new_page()
    sign_in(watched, account)
    page = watched.page
    web_fleet.stop("social")
    try:
        page.get_by_role("link", name="Friends").click()
        expect(page.locator(".degraded")).to_contain_text("unavailable right now")
        expect(page.get_by_text("No friends yet")).to_be_visible()  # the user service still answers
        screenshot(page, shots, "degraded")
    finally:
        web_fleet.start("social")
        web_fleet.wait_healthy(("social",))


def befriend(gateway: str, one: dict, other: dict) -> None:
    asked = requests.post(
        f"{gateway}/api/v1/users/{other['user']['id']}/friends", headers=one["headers"], json={}, timeout=10
    )
    assert asked.status_code == 201, asked.text
    answered = requests.put(
        f"{gateway}/api/v1/users/me/friends/{one['user']['id']}",
        headers=other["headers"],
        json={"status": "accepted"},
        timeout=10,
    )
    assert answered.status_code == 200, answered.text


def test_hug_requests_and_group_hugs(new_page, web_fleet, shots):
    gateway = web_fleet.gateway
    cara, dan = register(gateway, display_name="Cara"), register(gateway, display_name="Dan")
    befriend(gateway, cara, dan)
    cara_page, dan_page = new_page(), new_page()
    sign_in(cara_page, cara)
    sign_in(dan_page, dan)

    # Cara asks the community for a hug; Dan answers it, and the hug reaches Cara live.
    cara_page.page.get_by_role("link", name="Hugs").click()
    settled(cara_page.page, "Hugs")
    cara_page.page.get_by_label("Message (optional)").first.fill("Long week")
    cara_page.page.get_by_role("button", name="Ask for a hug").click()
    expect(cara_page.page.locator("main p.status").filter(has_text="Asked")).to_be_visible()
    dan_page.page.get_by_role("link", name="Hugs").click()
    settled(dan_page.page, "Hugs")
    request = dan_page.page.locator("li").filter(has_text="would like a hug").filter(has_text="Long week")
    expect(request).to_contain_text("Cara")
    request.get_by_role("button", name="Send a hug").click()
    expect(cara_page.page.locator("#toast")).to_contain_text("hug", timeout=3000)

    # Dan starts a group hug with Cara; Cara joins it from her hugs page.
    dan_page.page.get_by_label("Name", exact=True).fill("Friday circle")
    dan_page.page.get_by_label("Cara").check()
    dan_page.page.get_by_role("button", name="Start a group hug").click()
    expect(dan_page.page.locator("ul.groups")).to_contain_text("Friday circle")
    cara_page.page.reload()
    settled(cara_page.page)
    group = cara_page.page.locator("ul.groups li").filter(has_text="Friday circle")
    group.get_by_role("button", name="Join the hug").click()
    expect(group).to_contain_text("You joined")
    cara_page.page.reload()
    settled(cara_page.page)
    expect(cara_page.page.locator("ul.groups li").filter(has_text="Friday circle")).to_contain_text("You")
    screenshot(cara_page.page, shots, "group-hugs")
    # Dan, after a reload, still has the group hug he started, and sees that Cara joined it.
    dan_page.page.reload()
    settled(dan_page.page)
    mine = dan_page.page.locator("ul.groups li").filter(has_text="Friday circle")
    expect(mine).to_contain_text("started by you")
    expect(mine).to_contain_text("Joined: Cara (1 of 1)")
    expect(mine).to_contain_text("everyone joined")
    for watched in (cara_page, dan_page):
        assert watched.csp_violations() == [] and watched.dialogs == []


def test_settings_privacy_notifications_password_export_and_deletion(new_page, web_fleet, shots):
    account = register(web_fleet.gateway)
    watched = new_page()
    page = watched.page
    sign_in(watched, account)
    page.get_by_role("link", name="Settings").click()
    settled(page, "Settings")

    page.get_by_label("About me").fill("Morning person.")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("main p.status").filter(has_text="Profile saved")).to_be_visible()

    # Each privacy choice says its effect in plain words, and is saved.
    page.get_by_label("Who sees my moods").select_option("public")
    expect(page.locator("#p-share_moods_with-effect")).to_contain_text("Everyone signed in")
    page.get_by_label("Who may hug me").select_option("none")
    expect(page.locator("#p-allow_hugs_from-effect")).to_contain_text("Nobody can send you hugs")
    page.get_by_role("button", name="Save privacy").click()
    expect(page.locator("main p.status").filter(has_text="Privacy saved")).to_be_visible()
    privacy = requests.get(
        f"{web_fleet.gateway}/api/v1/users/{account['user']['id']}/privacy", headers=account["headers"], timeout=10
    ).json()
    assert privacy["share_moods_with"] == "public" and privacy["allow_hugs_from"] == "none"

    page.get_by_label("A hug for me: email").check()
    page.get_by_label("Quiet hours").check()
    page.get_by_label("From", exact=True).fill("21:30")
    page.get_by_role("button", name="Save notification settings").click()
    expect(page.locator("main p.status").filter(has_text="Notification settings saved")).to_be_visible()
    prefs = requests.get(
        f"{web_fleet.gateway}/api/v1/notifications/preferences", headers=account["headers"], timeout=10
    ).json()
    assert prefs["types"]["hug_received"]["email"] is True
    assert prefs["quiet_hours"] == {"start": "21:30", "end": "07:00"}
    screenshot(page, shots, "settings", docs=True)

    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data").click()
    exported = json.loads(Path(download.value.path()).read_text())
    assert set(exported) >= {"auth", "user", "mood", "hug", "notification", "social"}

    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password", exact=True).fill("an even softer blanket")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("main p.status").filter(has_text="current password is not right")).to_be_visible()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("an even softer blanket")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("main p.status").filter(has_text="Password changed")).to_be_visible()

    page.get_by_label("Your password, to confirm").fill("an even softer blanket")
    page.get_by_role("button", name="Delete my account").click()
    page.wait_for_url("**/signin")
    login = requests.post(
        f"{web_fleet.gateway}/api/v1/auth/login",
        json={"username": account["user"]["username"], "password": "an even softer blanket"},
        timeout=10,
    )
    assert login.status_code == 401


def test_the_verification_link_verifies_the_address(new_page, web_fleet):
    account = register(web_fleet.gateway)
    email = account["user"]["email"]
    sent = Path(web_fleet.env["NOTIFICATION_RECORDING_PATH"])
    mail = wait_for(
        lambda: (
            sent.exists()
            and [line for line in sent.read_text().splitlines() if email in line and "/verify-email?token=" in line]
        ),
        what="the verification email",
    )
    link = re.search(r"/verify-email\?token=[A-Za-z0-9_%.~-]+", json.dumps(json.loads(mail[-1])))
    watched = new_page()
    watched.page.goto(link.group(0))
    expect(watched.page.locator("main p.status")).to_contain_text("verified")
    assert "token" not in watched.page.url
    watched.page.goto(link.group(0))  # the link is single-use
    expect(watched.page.locator("main p.status")).to_contain_text("expired or was already used")


def test_history_filters_pages_edits_deletes_and_charts(new_page, web_fleet, shots):
    account = register(web_fleet.gateway)
    for n in range(23):
        created = requests.post(
            f"{web_fleet.gateway}/api/v1/moods",
            headers=account["headers"],
            json={
                "mood": "calm" if n % 2 else "tired",
                "intensity": 0.5,
                "valence": (n % 10) / 10,
                "tags": ["rain"] if n % 3 == 0 else ["sun"],
                "note": f"entry {n}",
                "recorded_at": f"2026-{(n % 11) + 1:02d}-{(n % 27) + 1:02d}T09:00:00Z",
            },
            timeout=10,
        )
        assert created.status_code == 201, created.text
    watched = new_page()
    page = watched.page
    sign_in(watched, account)
    page.get_by_role("link", name="History").click()
    settled(page, "History")
    entries = page.locator("ul.entries > li.entry")
    expect(entries).to_have_count(20)
    page.get_by_role("button", name="Load more").click()
    expect(entries).to_have_count(23)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    assert page.locator("svg.chart").count() >= 3
    assert page.locator("svg rect[data-date]").count() >= 365

    page.get_by_label("Tag", exact=True).fill("rain")
    page.get_by_role("button", name="Filter").click()
    expect(entries).to_have_count(8)
    first = entries.first
    first.get_by_role("button", name="Edit").click()
    editing = page.locator("li.editing")
    editing.get_by_label("Note", exact=True).fill("edited in the app")
    editing.get_by_role("button", name="Save changes").click()
    expect(entries.first).to_contain_text("edited in the app")
    entries.first.get_by_role("button", name="Delete").click()  # the confirm is accepted
    expect(entries).to_have_count(7)
    page.get_by_label("Tag", exact=True).fill("")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("ul.entries")).not_to_contain_text("edited in the app")
    assert watched.csp_violations() == []


def test_expired_tokens_are_refreshed_once_for_requests_in_flight(new_page, web_fleet):
    account = register(web_fleet.gateway)
    watched = new_page()
    page = watched.page
    sign_in(watched, account)
    expired: set[str] = set()

    def expire_once(route) -> None:
        """Each API read is refused once as if the access token had just expired."""
        if route.request.url in expired:
            route.continue_()
            return
        expired.add(route.request.url)
        problem = {"status": 401, "title": "Unauthorized", "code": "auth.token_expired"}
        route.fulfill(status=401, content_type="application/problem+json", body=json.dumps(problem))

    page.route(re.compile(r".*/api/v1/(moods|users)/.*"), expire_once)
    refreshes: list[str] = []
    page.on("request", lambda r: r.url.endswith("/app/session/refresh") and refreshes.append(r.url))
    page.get_by_role("link", name="History").click()
    settled(page, "History")
    assert len(expired) >= 3  # several requests were in flight with the expired token
    assert len(refreshes) == 1
    expect(page.locator(".error, .degraded")).to_have_count(0)
    expect(page.get_by_text("No entries match.")).to_be_visible()


def test_unfriend_block_and_unblock(new_page, web_fleet, shots):
    gateway = web_fleet.gateway
    eve, finn = register(gateway, display_name="Eve"), register(gateway, display_name="Finn")
    befriend(gateway, eve, finn)
    watched = new_page()
    page = watched.page
    sign_in(watched, eve)
    page.get_by_role("link", name="Friends").click()
    settled(page, "Friends")
    friends = page.locator("section").filter(has=page.get_by_role("heading", name="Your friends"))
    try:
        friends.locator("li").filter(has_text="Finn").get_by_role("button", name="Unfriend").click()
    except Exception:
        screenshot(page, shots, "unfriend-failure")
        raise
    expect(page.get_by_text("No friends yet")).to_be_visible()
    page.get_by_role("link", name="Friends").click()
    settled(page, "Friends")
    page.get_by_label("Find people by name or username").fill(finn["user"]["username"])
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Finn").click()
    page.get_by_role("button", name="Block").click()
    expect(page.locator("#toast")).to_contain_text("Blocked")
    hug = requests.post(
        f"{gateway}/api/v1/hugs",
        headers=finn["headers"],
        json={"recipient_id": eve["user"]["id"], "type": "warm"},
        timeout=10,
    )
    assert hug.status_code == 403
    page.get_by_role("link", name="Friends").click()
    settled(page, "Friends")
    blocked = page.locator("section").filter(has=page.get_by_role("heading", name="Blocked"))
    expect(blocked).to_contain_text("Finn")
    blocked.get_by_role("button", name="Unblock").click()
    expect(page.get_by_text("You have blocked no one.")).to_be_visible()


def test_insights_findings_and_recommendations(new_page, web_fleet, shots):
    gateway = web_fleet.gateway
    account = register(gateway)
    headers = account["headers"]
    watched = new_page()
    page = watched.page
    sign_in(watched, account)

    # Before any entry: every part says, kindly, that there is nothing yet.
    page.get_by_role("link", name="Insights").click()
    settled(page, "Insights")
    expect(page.locator("main")).to_contain_text("Nothing to share yet")
    expect(page.locator("main")).to_contain_text("Not enough data yet")
    assert page.locator("ul.insights li").count() == 0

    # Four weeks of check-ins: the walking days are the lighter ones, and a few days carry a tag
    # that is a stored script. The fleet refreshes insights a second after the entries.
    noon = time.time() - 86400
    for day in range(28):
        walked = day % 2 == 0
        tags = (["walk"] if walked else []) + ([XSS[0]] if day < 3 else [])
        when = time.strftime("%Y-%m-%dT12:00:00Z", time.gmtime(noon - day * 86400))
        body = {"mood": "calm" if walked else "tired", "intensity": 0.5, "tags": tags, "recorded_at": when}
        body["valence"] = (0.8 if day % 4 == 0 else 0.9) if walked else (0.15 if day % 4 == 1 else 0.25)
        created = requests.post(f"{gateway}/api/v1/moods", headers=headers, json=body, timeout=10)
        assert created.status_code == 201, created.text

    def insights() -> list[dict]:
        response = requests.get(f"{gateway}/api/v1/analytics/insights/me", headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    found = wait_for(lambda: [i for i in insights() if "walk" in i["title"]], timeout=30, what="the walk insight")
    page.reload()
    settled(page, "Insights")
    insight = page.locator("ul.insights li").filter(has_text=found[0]["title"])
    expect(insight).to_contain_text("NEW")
    expect(insight).to_contain_text("not what causes what")
    finding = page.locator("ul.findings li").filter(has_text="Days tagged “walk”")
    expect(finding).to_contain_text("felt lighter on average")
    expect(finding).to_contain_text("likely somewhere between")
    expect(finding).to_contain_text("14 days with it, 14 without")
    expect(finding).to_contain_text("stands out clearly")
    thin = page.locator("ul.findings li.thin").filter(has_text=XSS[0])  # 3 days: too few to say
    expect(thin).to_contain_text("not enough data yet")
    expect(thin).to_contain_text("3 days with it, 25 without")
    expect(page.locator("ul.recommendations li").first).to_be_visible()
    reasons = [
        r["reason"]
        for r in requests.get(f"{gateway}/api/v1/analytics/recommendations/me", headers=headers, timeout=10).json()[
            "items"
        ]
    ]
    expect(page.locator("ul.recommendations")).to_contain_text(reasons[0])
    screenshot(page, shots, "insights", docs=True)

    insight.get_by_role("button", name="Mark as seen").click()
    expect(insight).to_contain_text("Seen ✓")
    expect(insight.locator(".tag-new")).to_have_count(0)
    assert wait_for(
        lambda: next(i for i in insights() if i["id"] == found[0]["id"])["is_read"], what="the insight read"
    )
    page.reload()
    settled(page, "Insights")
    expect(page.locator("ul.insights li").filter(has_text=found[0]["title"])).not_to_contain_text("NEW")
    expect(page.get_by_role("button", name="Mark as seen")).to_have_count(len(insights()) - 1)

    # Another period re-reads the findings; the script in a tag stayed text throughout.
    with page.expect_response(lambda r: "/correlations/me?period=month" in r.url) as answered:
        page.get_by_label("Looking at").select_option("month")
    assert answered.value.status == 200
    expect(page.locator("ul.findings li").filter(has_text="Days tagged “walk”")).to_contain_text("felt lighter")
    assert page.locator("img[src='x'], main script").count() == 0
    assert watched.dialogs == [] and watched.csp_violations() == []
