"""One error root: every error the package defines is an AsteriskBridgeError, and each is defined in
an ``errors.py`` (asterisk_bridge/errors.py: the root and the roots of install.py and eventloop.py)."""

import importlib
import inspect
import pkgutil

import asterisk_bridge
from asterisk_bridge.errors import AsteriskBridgeError


def _modules():
    for info in pkgutil.walk_packages(asterisk_bridge.__path__, "asterisk_bridge."):
        if info.name != "asterisk_bridge.__main__":
            yield importlib.import_module(info.name)


def test_every_error_is_under_the_one_root_and_lives_in_an_errors_module():
    defined = {}
    for module in _modules():
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                defined[f"{module.__name__}.{name}"] = value
    public = {name: cls for name, cls in defined.items() if not name.rsplit(".", 1)[1].startswith("_")}
    assert len(public) > 20
    assert [name for name, cls in public.items() if not issubclass(cls, AsteriskBridgeError)] == []
    assert [name for name in public if not name.rsplit(".", 1)[0].endswith("errors")] == []
    # every area's root sits right under the one root
    roots = {cls.__name__ for cls in public.values() if cls.__bases__[0] is AsteriskBridgeError}
    assert {"AGIError", "AMIError", "StoreError", "ConfigError", "MQTTError", "ReportError", "CallsError",
            "MenuError", "WebError", "PBXSimError", "InitError", "EventLoopError"} <= roots, roots
    from asterisk_bridge.mqtt.errors import MQTTError, OutboxError
    from asterisk_bridge.report.errors import MailError, ReportError
    from asterisk_bridge.store.errors import RecordError, RecordRejectedError, StoreError

    assert issubclass(RecordError, StoreError) and issubclass(RecordRejectedError, StoreError)
    assert issubclass(OutboxError, MQTTError)  # a message that cannot be published (mqtt/message.py)
    assert issubclass(MailError, ReportError)
