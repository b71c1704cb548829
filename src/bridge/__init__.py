"""Bridge between Telegram voice chats and the Gemini Live API.

Layers, each importing only the ones above it:

- `bridge.protocol`: the Gemini Live wire format, sans I/O (events, messages, errors).
- `bridge.client`: one Live WebSocket connection (`connect`, `Endpoint`, tokens).
- `bridge.transports`: where audio comes from and goes to (Telegram voice chats, an
  ntgcalls loopback call, WAV files), the simulated user of the demo, audio files.
- `bridge.engine`: a bridged session: mixing, resampling, playout, turns, barge-in.
- `bridge.telegram`: everything that talks to Telegram as a chat client, and
  `TelegramRunner`, which runs the bridge in voice chats on one account.
- `bridge.emulator`: a local Gemini Live server for tests, demos and offline work.
- `bridge.cli`: the `gemini-tg-bridge` command: argument parsing and reports only.

`Secret` holds an API key, token or session string and never shows it.
"""

from ._secret import Secret

__all__ = ["Secret"]

__version__ = "0.1.0"
