"""The PBX simulator's errors: a script, scenario or queue model that cannot be played, or misuse.

Each derives from ``PBXSimError`` (under the package's ``AsteriskBridgeError``) and, where the
cause is a bad argument, from ``ValueError`` too, so callers that validate input can catch either.
"""

from __future__ import annotations

from ..errors import AsteriskBridgeError


class PBXSimError(AsteriskBridgeError):
    """Root of the simulator's errors."""


class CallerScriptError(PBXSimError, ValueError):
    """A caller script that cannot be played (bad key, negative time, unknown reaction)."""


class ScenarioError(PBXSimError, ValueError):
    """A call scenario that cannot happen (e.g. a queue outcome for a menu hang-up)."""


class QueueModelError(PBXSimError, ValueError):
    """A queue the model does not know, or a call that cannot be decided."""


class AMIServerError(PBXSimError):
    """Misuse of the simulator's AMI server (e.g. port asked before start)."""


class SimulationWorkerError(PBXSimError):
    """A ``simulate --workers`` worker process failed, or did not start or finish."""
