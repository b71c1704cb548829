"""Where a session's audio comes from and where the bot's audio goes.

- `Transport` (`_base`): the one interface between the engine and an audio endpoint.
- `tgcalls.GroupCallTransport`: a Telegram group voice chat (py-tgcalls/ntgcalls).
- `loopback.LoopbackCall`: a real WebRTC/Opus call between two ntgcalls endpoints.
- `wav.WavTransport`: both ends in memory, the user speaking an audio file.
- `group.GroupCall`: several simulated participants in memory, each its own ssrc.
- `SimulatedUser` (`_user`): the far end of a loopback or WAV call, paced by the shared
  `bridge._pacing.Pacer`; what it hears is a list of `HeardFrame`s.
- `demo`: opening such a call by name and the demo's scripted conversation.
- `audiofile.read_audio`: the one audio-file reader (demo speech, WAV sources, voice notes).
"""

from ._base import AudioError, FrameSink, Transport
from ._user import HeardFrame, SimulatedUser

__all__ = ["AudioError", "FrameSink", "HeardFrame", "SimulatedUser", "Transport"]
