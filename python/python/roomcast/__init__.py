"""roomcast: Socket.IO's server model (namespaces, rooms, broadcasts, acks)
as an embeddable library. The host owns the transport and drains one outbox
per connection; roomcast decides who gets what.
"""

from ._roomcast import (
    Ack,
    AckReply,
    AckTimeout,
    Closed,
    ConnectRefused,
    Connection,
    EmitReport,
    Engine,
    Handshake,
    InvalidName,
    Message,
    Namespace,
    Operator,
    PayloadTooLarge,
    RoomEvent,
    RedisAdapter,
    RoomcastError,
    Socket,
    __version__,
)

__all__ = [
    "Ack",
    "AckReply",
    "AckTimeout",
    "Closed",
    "ConnectRefused",
    "Connection",
    "EmitReport",
    "Engine",
    "Handshake",
    "InvalidName",
    "Message",
    "Namespace",
    "Operator",
    "PayloadTooLarge",
    "RoomEvent",
    "RedisAdapter",
    "RoomcastError",
    "Socket",
    "__version__",
]
