"""The TOML configuration: typed, validated settings for the whole service.

``settings`` holds the types, ``load`` reads a file into them (with ``table``, ``sections``,
``lines`` and ``prompts``), ``describe`` is what ``check-config`` prints, ``errors`` the area's
errors. Everything
a caller needs is importable from here.
"""

from __future__ import annotations

from .describe import describe
from .errors import ConfigError, ConfigProblem
from .load import DEFAULT_PATHS, ENV_VAR, MENU_SECTIONS, load_config, parse_config, resolve_config_path
from .settings import (
    SOUND_EXTENSIONS,
    AgeQuestion,
    AMISettings,
    Config,
    DatabaseSettings,
    FastAGISettings,
    InfoText,
    Line,
    Menu,
    MQTTSettings,
    PrivacySettings,
    PromptText,
    SMTPSettings,
    SummarySettings,
    Topic,
    WebSettings,
    is_loopback,
)

__all__ = [
    "AMISettings", "AgeQuestion", "Config", "ConfigError", "ConfigProblem", "DEFAULT_PATHS", "DatabaseSettings",
    "ENV_VAR", "FastAGISettings", "InfoText", "Line", "MENU_SECTIONS", "MQTTSettings", "Menu", "PrivacySettings",
    "PromptText", "SMTPSettings", "SOUND_EXTENSIONS", "SummarySettings", "Topic", "WebSettings", "describe",
    "is_loopback", "load_config", "parse_config", "resolve_config_path",
]
