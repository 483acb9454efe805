"""roomcast: Socket.IO's server model (namespaces, rooms, broadcasts, acks)
as an embeddable library. The host owns the transport and drains one outbox
per connection; roomcast decides who gets what.

``RedisAdapter`` exists when the extension was built with the ``redis`` cargo
feature (the default, and every published wheel); a build without it has no
Redis names, and asking for one raises an error that says so.
"""

from typing import TYPE_CHECKING

from ._roomcast import (
    Ack,
    AckReply,
    AckTimeout,
    AckTimeoutError,
    Closed,
    ClosedError,
    ConnectRefused,
    ConnectRefusedError,
    Connection,
    EmitReport,
    Engine,
    Handshake,
    InvalidName,
    InvalidNameError,
    Message,
    Namespace,
    Operator,
    OwnRoomError,
    PayloadTooLarge,
    PayloadTooLargeError,
    RoomEvent,
    RoomcastError,
    Socket,
    __version__,
)

__all__ = [
    "Ack",
    "AckReply",
    "AckTimeout",
    "AckTimeoutError",
    "Closed",
    "ClosedError",
    "ConnectRefused",
    "ConnectRefusedError",
    "Connection",
    "EmitReport",
    "Engine",
    "Handshake",
    "InvalidName",
    "InvalidNameError",
    "Message",
    "Namespace",
    "Operator",
    "OwnRoomError",
    "PayloadTooLarge",
    "PayloadTooLargeError",
    "RoomEvent",
    "RoomcastError",
    "Socket",
    "__version__",
]

# Names that exist only with a cargo feature of the extension module.
_OPTIONAL = {"RedisAdapter": "redis"}

try:
    from ._roomcast import RedisAdapter  # noqa: F401

    __all__.append("RedisAdapter")
except ImportError:
    if not TYPE_CHECKING:

        def __getattr__(name: str) -> object:
            if name in _OPTIONAL:
                raise AttributeError(
                    f"roomcast.{name} is not available: this build of roomcast was compiled "
                    f"without the {_OPTIONAL[name]!r} feature (published wheels include it; "
                    f"from source: pip install ./python, which builds the default features)"
                )
            raise AttributeError(f"module 'roomcast' has no attribute {name!r}")
