"""`gemini-tg-bridge token`: mint an ephemeral Gemini Live token and print it."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from .._loop import run
from .._secret import Secret
from ..client import Endpoint, mint_token
from ..protocol import BridgeError, LiveConfig
from . import Subparsers, typed_args

_KEY_ENV = "GEMINI_API_KEY"


def register(subparsers: Subparsers) -> None:
    """Add the `token` subcommand."""
    parser = subparsers.add_parser(
        "token",
        help="mint an ephemeral Live API token",
        description=f"Mint an ephemeral token with the API key in ${_KEY_ENV} and print it.",
    )
    parser.add_argument("--uses", type=int, default=1, help="sessions it may start (0 = any)")
    parser.add_argument("--expire-s", type=float, default=1800.0, help="token lifetime")
    parser.add_argument(
        "--new-session-expire-s",
        type=float,
        default=60.0,
        help="window in which a new session may start",
    )
    parser.add_argument("--model", help="lock the token to this model")
    parser.add_argument("--base-url", default="https://generativelanguage.googleapis.com")
    parser.add_argument("--api-version", default="v1alpha", choices=("v1alpha", "v1beta"))
    parser.set_defaults(handler=main)


@dataclass(frozen=True, slots=True)
class _Args:
    uses: int
    expire_s: float
    new_session_expire_s: float
    model: str | None
    base_url: str
    api_version: str


def main(parsed: argparse.Namespace) -> int:
    """Mint a token; print it on stdout (the key itself is never printed)."""
    args = typed_args(_Args, parsed)
    key = os.environ.get(_KEY_ENV)
    if not key:
        print(f"token: set ${_KEY_ENV} to your API key", file=sys.stderr)
        return 2
    endpoint = Endpoint(base_url=args.base_url, api_version=args.api_version, api_key=Secret(key))
    config = LiveConfig(model=args.model) if args.model else None
    try:
        token = run(
            mint_token(
                endpoint,
                uses=args.uses,
                expire_in_s=args.expire_s,
                new_session_expire_in_s=args.new_session_expire_s,
                config=config,
                field_mask=None,
            )
        )
    except BridgeError as exc:
        print(f"token: {exc}", file=sys.stderr)
        return 1
    print(token.reveal())
    return 0
