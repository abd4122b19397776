"""Our own FastAGI server (asyncio), built to the facts in tests/fixtures/asterisk/README.md."""

from .channel import AGIChannel
from .errors import (
    AGICommandError,
    AGICommandTimeout,
    AGIConnectionClosed,
    AGIDeadChannel,
    AGIEnvError,
    AGIError,
    AGIInvalidCommand,
    AGIProtocolError,
    AGIReplyError,
    AGIUsageError,
)
from .protocol import AGIEnv, Quoted, Reply, format_command, parse_env, parse_reply, quote_arg
from .server import FastAGIServer

__all__ = [
    "AGIChannel",
    "AGICommandError",
    "AGICommandTimeout",
    "AGIConnectionClosed",
    "AGIDeadChannel",
    "AGIEnv",
    "AGIEnvError",
    "AGIError",
    "AGIInvalidCommand",
    "AGIProtocolError",
    "AGIReplyError",
    "AGIUsageError",
    "FastAGIServer",
    "Quoted",
    "Reply",
    "format_command",
    "parse_env",
    "parse_reply",
    "quote_arg",
]
