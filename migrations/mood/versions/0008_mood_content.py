"""mood: the content library (categories, items, interactions, bookmarks), import fingerprints of
entries, erasure guards on the new per-user tables, and the starter catalogue

Revision ID: mood_0008
Revises: mood_0007
Create Date: 2026-12-07
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.datarights import Holding, guard_statements

revision = "mood_0008"
down_revision = "mood_0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
TEXTS = postgresql.ARRAY(sa.String(50))
HOLDINGS = [
    Holding("content_interactions", columns=("user_id",)),
    Holding("content_bookmarks", columns=("user_id",)),
]
# The starter catalogue's ids are derived from its slugs, so a re-run or a second database gets
# the same ids (and editors can refer to them).
NAMESPACE = uuid.UUID("6a1c5d0e-8f0b-4c7e-9f5e-2b7f0c1d4e35")

# (slug, name, parent slug)
CATEGORIES = [
    ("calm", "Calming down", None),
    ("breathing", "Breathing", "calm"),
    ("grounding", "Grounding", "calm"),
    ("body", "Body", None),
    ("movement", "Movement", "body"),
    ("sleep", "Sleep", "body"),
    ("outlook", "Outlook", None),
    ("gratitude", "Gratitude", "outlook"),
    ("reflection", "Reflection", "outlook"),
    ("connection", "Connection", None),
    ("reaching-out", "Reaching out", "connection"),
]

LOW = ["low", "sad", "awful"]
TENSE = ["anxious", "stressed", "overwhelmed", "restless"]

# (slug, title, type, summary, body in Markdown, tags, categories, related moods)
ITEMS = [
    (
        "box-breathing",
        "Box breathing",
        "exercise",
        "Four counts in, hold, out, hold: a square that slows a racing mind.",
        "Sit so your back is supported.\n\n1. Breathe in through your nose for **4** counts.\n"
        "2. Hold for **4**.\n3. Breathe out slowly for **4**.\n4. Hold empty for **4**.\n\n"
        "Go round the square four or five times. If holding feels uncomfortable, shorten the holds.",
        ["breathing"],
        ["breathing"],
        [*TENSE, "angry"],
    ),
    (
        "longer-out-breath",
        "Let the out-breath be longer",
        "exercise",
        "Breathing out for longer than you breathe in tells your body it can ease off.",
        "Breathe in for a count of 3, then out for a count of 6, as if blowing through a straw.\n\n"
        "Ten rounds take about two minutes. Notice your shoulders dropping as you go.",
        ["breathing"],
        ["breathing"],
        [*TENSE, "angry", "awful"],
    ),
    (
        "hand-on-belly",
        "A hand on your belly",
        "exercise",
        "Feel the breath move under your palm and let it set the pace.",
        "Rest one hand on your chest and one on your belly. Breathe so that the lower hand rises more "
        "than the upper one. Stay with it for a minute; there is nothing to get right.",
        ["breathing"],
        ["breathing"],
        [*TENSE, "tired"],
    ),
    (
        "sigh-it-out",
        "Two breaths in, one long sigh",
        "exercise",
        "A double inhale and a slow sigh: the quickest reset we know.",
        "Take a breath in through the nose, then a second short sip on top of it. Let it all go "
        "through the mouth in one long sigh. Two or three of these are often enough.",
        ["breathing"],
        ["breathing"],
        [*TENSE, "angry", "low"],
    ),
    (
        "five-four-three",
        "Five things you can see",
        "exercise",
        "Name what your senses notice right now to step out of a spiral.",
        "Name, quietly or out loud:\n\n- **5** things you can see\n- **4** things you can touch\n"
        "- **3** things you can hear\n- **2** things you can smell\n- **1** thing you can taste\n\n"
        "Take your time with each. The point is the noticing, not the count.",
        ["grounding"],
        ["grounding"],
        [*TENSE, "awful"],
    ),
    (
        "feet-on-the-floor",
        "Feet on the floor",
        "exercise",
        "Press your feet down and feel the ground holding you up.",
        "Wherever you are, plant both feet flat. Press down gently for five seconds, then release. "
        "Notice the weight of your body in the chair. Repeat three times.",
        ["grounding"],
        ["grounding"],
        [*TENSE, "angry"],
    ),
    (
        "cold-water",
        "Cool water on your hands",
        "exercise",
        "A simple jolt of cool water can bring a rush of feeling down a notch.",
        "Run cool water over your wrists and hands for thirty seconds, or hold something cold. "
        "Pay attention to the temperature and how it changes.",
        ["grounding"],
        ["grounding"],
        ["overwhelmed", "angry", "anxious", "awful"],
    ),
    (
        "name-the-feeling",
        "Name the feeling",
        "article",
        "Putting a word to what you feel often takes some of its weight away.",
        "When a feeling is loud, try finishing the sentence *Right now I feel...* with one word. "
        "Then ask: where do I feel it in my body? You are not trying to fix it, only to describe it, "
        "the way you would describe the weather.",
        ["grounding", "journal"],
        ["grounding", "reflection"],
        [*TENSE, *LOW, "angry"],
    ),
    (
        "three-good-things",
        "Three good things",
        "exercise",
        "Before bed, write down three things that went well today, however small.",
        "Write three lines. For each, add *why* it went well. A warm cup of tea counts. "
        "Done for a week, this habit tends to tilt attention towards what is working.",
        ["gratitude", "journal"],
        ["gratitude"],
        ["okay", "low", "sad", "good"],
    ),
    (
        "thank-you-note",
        "A thank-you you never sent",
        "exercise",
        "Write to someone who helped you, whether or not you send it.",
        "Think of someone whose kindness you never fully thanked. Write them a few sentences about "
        "what they did and what it meant. Sending it is optional; writing it is the exercise.",
        ["gratitude", "friends"],
        ["gratitude", "reaching-out"],
        ["low", "lonely", "okay", "good"],
    ),
    (
        "savour-a-moment",
        "Savour one moment",
        "exercise",
        "Stretch a pleasant moment out for twenty seconds longer than usual.",
        "When something nice happens (sunlight, a song, a good bite), pause. Notice the details and "
        "stay with it for a few breaths before moving on.",
        ["gratitude", "mindfulness"],
        ["gratitude"],
        ["good", "great", "happy", "calm", "okay"],
    ),
    (
        "small-wins",
        "Count the small wins",
        "article",
        "On a flat day, small wins are the ones that matter.",
        "Getting up, eating something, answering one message: these count. List what you did today, "
        "not what you did not. Progress on hard days is measured in small steps.",
        ["gratitude", "journal"],
        ["gratitude", "reflection"],
        [*LOW, "tired", "okay"],
    ),
    (
        "ten-minute-walk",
        "A ten-minute walk",
        "exercise",
        "Step outside for ten minutes; no destination needed.",
        "Walk at a pace that feels easy. Look up rather than at your phone. If you can, pass a tree or "
        "some water. Ten minutes is enough to change how the next hour feels.",
        ["walk", "outdoors"],
        ["movement"],
        [*LOW, "stressed", "restless", "tired", "okay"],
    ),
    (
        "stretch-at-your-desk",
        "Stretch where you sit",
        "exercise",
        "Roll your shoulders, stretch your neck and loosen your hands without leaving your chair.",
        "- Roll your shoulders back five times.\n- Tilt your head gently to each side.\n"
        "- Open and close your hands ten times.\n- Reach both arms up and breathe out as they come down.",
        ["stretching"],
        ["movement"],
        ["stressed", "tired", "restless"],
    ),
    (
        "dance-one-song",
        "Dance to one song",
        "exercise",
        "Put on a song you love and move however you like until it ends.",
        "Nobody is watching. Three minutes of moving to music you enjoy lifts energy more reliably "
        "than another cup of coffee.",
        ["music", "exercise"],
        ["movement"],
        ["low", "okay", "tired", "good", "great"],
    ),
    (
        "get-some-daylight",
        "Get some daylight",
        "article",
        "Morning light helps set your body clock and your mood.",
        "Try to spend a few minutes outside within an hour of waking, even on a cloudy day. Light "
        "through a window helps less than being out in it.",
        ["outdoors", "sleep"],
        ["movement", "sleep"],
        ["tired", "low", "sad"],
    ),
    (
        "shake-it-off",
        "Shake it off",
        "exercise",
        "Shake out your hands, arms and legs for thirty seconds to release tension.",
        "Stand up and shake your hands loosely, then your arms, then each leg. Finish with a long "
        "breath out. It looks silly and it works.",
        ["exercise"],
        ["movement"],
        ["angry", "restless", "anxious", "stressed"],
    ),
    (
        "wind-down-hour",
        "A wind-down hour",
        "article",
        "Give the last hour before bed a routine that tells your body the day is over.",
        "Dim the lights, put screens away, and pick the same few calm things each night: a shower, a "
        "book, some stretching. Going to bed at a similar time matters more than the exact time.",
        ["sleep", "routine"],
        ["sleep"],
        ["tired", "anxious", "stressed"],
    ),
    (
        "worry-list",
        "Park your worries on paper",
        "exercise",
        "Write tomorrow's worries down before bed so they do not keep you awake.",
        "Take a sheet of paper and list what is on your mind, with one next step for each if there is "
        "one. Then close the notebook. The list will be there in the morning.",
        ["sleep", "journal"],
        ["sleep", "reflection"],
        ["anxious", "stressed", "overwhelmed", "tired"],
    ),
    (
        "body-scan",
        "A slow body scan",
        "audio",
        "Move your attention from your toes to your head, relaxing each part in turn.",
        "Lie down. Bring attention to your toes, your feet, your ankles, and so on up to your scalp. "
        "If your mind wanders, that is normal: come back to where you were.",
        ["sleep", "mindfulness"],
        ["sleep", "grounding"],
        ["tired", "anxious", "restless"],
    ),
    (
        "cannot-sleep",
        "When you cannot sleep",
        "article",
        "If sleep will not come after twenty minutes, get up for a while.",
        "Lying awake and frustrated teaches your body that bed is for worrying. Go to another room, "
        "keep the light low, do something quiet, and return when you feel sleepy.",
        ["sleep"],
        ["sleep"],
        ["tired", "anxious", "restless"],
    ),
    (
        "send-a-message",
        "Send one message",
        "exercise",
        "Text someone you like, just to say hello.",
        "It does not need a reason. *Thought of you today* is enough. Connection often starts with "
        "the smallest message.",
        ["friends"],
        ["reaching-out"],
        ["lonely", *LOW, "okay"],
    ),
    (
        "ask-for-a-hug",
        "Ask for a hug",
        "exercise",
        "Let a friend know you could use some warmth today.",
        "Asking is not a burden; most people are glad to be asked. Send a hug request here, or tell "
        "someone close that today is a hard one.",
        ["friends", "hugs"],
        ["reaching-out"],
        ["lonely", *LOW, "anxious"],
    ),
    (
        "call-not-text",
        "Call instead of texting",
        "exercise",
        "Hearing a voice connects in a way messages do not.",
        "Pick one person you would usually text and call them instead, even for five minutes.",
        ["friends"],
        ["reaching-out"],
        ["lonely", "low", "sad"],
    ),
    (
        "do-something-kind",
        "Do one kind thing",
        "exercise",
        "A small kindness for someone else tends to lift the giver too.",
        "Hold a door, send a hug, leave a kind comment, make someone a drink. Notice how it feels afterwards.",
        ["friends", "hugs"],
        ["reaching-out", "gratitude"],
        ["okay", "good", "low", "lonely"],
    ),
    (
        "talk-to-someone",
        "When it is too much to carry alone",
        "article",
        "Some days call for more than an exercise: talking to someone you trust is a strength.",
        "If you feel overwhelmed for days at a time, tell someone you trust, or contact a doctor or a "
        "local support line. HugMood is a companion, not a replacement for care.",
        ["friends", "support"],
        ["reaching-out"],
        ["awful", "overwhelmed", "low"],
    ),
    (
        "one-thing-at-a-time",
        "One thing at a time",
        "article",
        "When everything feels urgent, choose one thing and do only that.",
        "Write down everything that is pressing. Circle one item you can finish in fifteen minutes. "
        "Do it, cross it off, then decide on the next one.",
        ["focus", "work"],
        ["reflection"],
        ["overwhelmed", "stressed", "anxious"],
    ),
    (
        "what-went-well",
        "Notice what helped",
        "article",
        "Your own diary is the best guide to what lifts your mood.",
        "Look back over a good week. What did those days have in common: people, places, sleep, "
        "activity? Tag them when you record a mood, and patterns start to show.",
        ["journal"],
        ["reflection"],
        ["good", "great", "happy", "okay", "calm"],
    ),
    (
        "be-kind-to-yourself",
        "Talk to yourself like a friend",
        "exercise",
        "Say to yourself what you would say to a friend in your place.",
        "Notice the voice in your head on a hard day. Would you say those words to someone you care "
        "about? Try rewriting one harsh thought in the voice of a kind friend.",
        ["self-compassion", "journal"],
        ["reflection"],
        [*LOW, "angry", "anxious"],
    ),
    (
        "pause-before-reacting",
        "Pause before you react",
        "exercise",
        "Anger passes more quickly when you give it ninety seconds before acting.",
        "When you feel the heat rise, step away if you can. Breathe out slowly three times and count "
        "to ninety. Then decide what, if anything, to say.",
        ["breathing", "self-compassion"],
        ["reflection", "breathing"],
        ["angry", "stressed", "restless"],
    ),
    (
        "plan-something-nice",
        "Plan something to look forward to",
        "exercise",
        "Put one small pleasant thing in the calendar for the next few days.",
        "A walk with a friend, a favourite meal, an episode of a show. Having something to look "
        "forward to lifts the days before it, too.",
        ["friends", "routine"],
        ["outlook", "reflection"],
        ["low", "okay", "tired", "sad"],
    ),
    (
        "keep-the-good-going",
        "Keep a good day going",
        "article",
        "On a bright day, note what made it so, while you still remember.",
        "Good days are data too. Write a line about what you did, who you saw and how you slept. "
        "On harder days you will have a list of things that work for you.",
        ["journal", "gratitude"],
        ["gratitude", "reflection"],
        ["great", "good", "happy", "calm"],
    ),
]


def upgrade() -> None:
    op.add_column("mood_entries", sa.Column("import_key", sa.LargeBinary))
    # One imported row makes one entry: a re-import of the same row finds its fingerprint taken.
    op.create_index(
        "ux_mood_entries_import_key",
        "mood_entries",
        ["user_id", "import_key"],
        unique=True,
        postgresql_where=sa.text("import_key IS NOT NULL"),
    )
    categories = op.create_table(
        "content_categories",
        sa.Column("slug", sa.String(50), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("parent", sa.String(50), sa.ForeignKey("content_categories.slug")),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    )
    items = op.create_table(
        "content_items",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("summary", sa.String(500), nullable=False, server_default=""),
        sa.Column("body", sa.Text, nullable=False, server_default=""),
        sa.Column("media_url", sa.String(2048)),
        sa.Column("tags", TEXTS, nullable=False, server_default="{}"),
        sa.Column("categories", TEXTS, nullable=False, server_default="{}"),
        sa.Column("related_moods", TEXTS, nullable=False, server_default="{}"),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("published_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("type IN ('article', 'exercise', 'audio', 'video')", name="content_type"),
        sa.CheckConstraint("status IN ('draft', 'published', 'archived')", name="content_status"),
        sa.CheckConstraint("status <> 'published' OR published_at IS NOT NULL", name="published_when"),
    )
    # The public lists: published items newest first, narrowed by the array filters.
    op.create_index(
        "ix_content_items_published",
        "content_items",
        ["published_at", "id"],
        postgresql_where=sa.text("status = 'published'"),
    )
    for column in ("tags", "categories", "related_moods"):
        op.create_index(f"ix_content_items_{column}", "content_items", [column], postgresql_using="gin")
    op.create_table(
        "content_interactions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("content_id", sa.Uuid, sa.ForeignKey("content_items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("seconds", sa.Integer),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(
            "type IN ('view', 'bookmark', 'unbookmark', 'complete', 'dismiss')", name="interaction_type"
        ),
        sa.CheckConstraint("seconds IS NULL OR seconds BETWEEN 0 AND 86400", name="interaction_seconds"),
    )
    op.create_index("ix_content_interactions_user", "content_interactions", ["user_id", "content_id", "type"])
    op.create_index("ix_content_interactions_content", "content_interactions", ["content_id"])
    op.create_table(
        "content_bookmarks",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("content_id", sa.Uuid, sa.ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_content_bookmarks_user_created", "content_bookmarks", ["user_id", "created_at", "content_id"])
    op.create_index("ix_content_bookmarks_content", "content_bookmarks", ["content_id"])
    for statement in guard_statements("moods", HOLDINGS):
        op.execute(statement)

    op.bulk_insert(
        categories,
        [
            {"slug": slug, "name": name, "parent": parent, "position": position}
            for position, (slug, name, parent) in enumerate(CATEGORIES)
        ],
    )
    published = datetime(2026, 12, 1, tzinfo=UTC)
    op.bulk_insert(
        items,
        [
            {
                "id": uuid.uuid5(NAMESPACE, slug),
                "title": title,
                "type": kind,
                "summary": summary,
                "body": body,
                "tags": tags,
                "categories": cats,
                "related_moods": list(dict.fromkeys(moods)),
                "status": "published",
                "published_at": published,
                "created_at": published,
                "updated_at": published,
            }
            for slug, title, kind, summary, body, tags, cats, moods in ITEMS
        ],
    )


def downgrade() -> None:
    for table in ("content_bookmarks", "content_interactions"):
        op.execute(f"DROP TRIGGER IF EXISTS refuse_erased_users ON moods.{table}")
    op.drop_table("content_bookmarks")
    op.drop_table("content_interactions")
    op.drop_table("content_items")
    op.drop_table("content_categories")
    op.drop_index("ux_mood_entries_import_key", table_name="mood_entries")
    op.drop_column("mood_entries", "import_key")
