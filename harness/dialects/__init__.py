"""Provider wire formats; importing this package registers every built-in dialect."""

from __future__ import annotations

from harness.dialects import anthropic_messages, openai_chat, openai_responses
from harness.dialects.base import DIALECTS, Dialect, dialect_for_path

__all__ = ["DIALECTS", "Dialect", "anthropic_messages", "dialect_for_path", "openai_chat", "openai_responses"]
