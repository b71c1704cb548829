"""Bridge between Telegram voice chats and the Gemini Live API."""

__version__ = "0.1.0"
