"""SQLite store: threads, messages, receipts, feedback and learned router state."""

from baton.core.store.db import Store
from baton.core.store.migrations import FEEDBACK_KINDS, MESSAGE_STATUSES, SCHEMA_VERSION
from baton.core.store.records import DISK_FULL_MESSAGE, Feedback, Message, Thread
from baton.core.store.writer import AnswerWriter

__all__ = [
    "AnswerWriter",
    "DISK_FULL_MESSAGE",
    "FEEDBACK_KINDS",
    "Feedback",
    "MESSAGE_STATUSES",
    "Message",
    "SCHEMA_VERSION",
    "Store",
    "Thread",
]
