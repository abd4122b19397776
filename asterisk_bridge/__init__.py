"""asterisk-bridge: a citizen contact-center bridge for Asterisk."""

__version__ = "0.1.0"
