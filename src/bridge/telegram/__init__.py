"""The Telegram side of the bridge: the account runner, chat commands, transcripts, voice
notes, login.

The voice chat audio itself goes through `bridge.transports.tgcalls`; this package is
everything around it that talks to Telegram as a chat client (kurigram's `pyrogram`):

- `_runner`: `TelegramRunner`, the bridge on one account (connect, chats, commands,
  voice notes, signals, shutdown), and `open_account`.
- `_chat`: `ChatBridge`, one chat's session, transport and transcript poster.
- `_transcripts`, `_speakers` (who an ssrc is), `_captions` (slow mode), `_budget`,
  `_access`, `_lock`, `_voicenote`, `_credentials`, `_login`: one job each.
"""

from ._access import AccessPolicy, VoiceNoteRule
from ._budget import AccountBudget
from ._chat import ChatBridge, chats_from_args
from ._credentials import CredentialsError, TelegramCredentials
from ._runner import SessionRevokedError, TelegramConnectError, TelegramRunner, open_account
from ._speakers import SpeakerNames
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
    "AccountBudget",
    "ChatApi",
    "ChatBridge",
    "CredentialsError",
    "SessionRevokedError",
    "SpeakerNames",
    "TelegramConnectError",
    "TelegramCredentials",
    "TelegramRunner",
    "TranscriptPoster",
    "VoiceNoteError",
    "VoiceNoteReply",
    "VoiceNoteRule",
    "answer_voice_note",
    "chats_from_args",
    "decode_voice_note",
    "encode_voice_note",
    "open_account",
    "render_turn",
    "waveform",
]
