"""The Telegram side of the bridge: chat commands, transcripts, voice notes, login.

The voice chat audio itself goes through `bridge.transports.tgcalls`; this package is
everything around it that talks to Telegram as a chat client (kurigram's `pyrogram`).
"""

from ._access import AccessPolicy
from ._chat import BridgeRunner, ChatBridge, chats_from_args
from ._credentials import CredentialsError, TelegramCredentials
from ._transcripts import ChatApi, TranscriptPoster, render_turn
from ._voicenote import (
    VOICE_NOTE_RATE_HZ,
    VoiceNoteError,
    VoiceNoteReply,
    answer_voice_note,
    decode_voice_note,
    encode_voice_note,
    waveform,
)

__all__ = [
    "VOICE_NOTE_RATE_HZ",
    "AccessPolicy",
    "BridgeRunner",
    "ChatApi",
    "ChatBridge",
    "CredentialsError",
    "TelegramCredentials",
    "TranscriptPoster",
    "VoiceNoteError",
    "VoiceNoteReply",
    "answer_voice_note",
    "chats_from_args",
    "decode_voice_note",
    "encode_voice_note",
    "render_turn",
    "waveform",
]
