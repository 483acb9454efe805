"""Socket.IO servers on roomcast: official Socket.IO clients (JavaScript
``socket.io-client``, ``python-socketio``'s client, ...) connect to a
``roomcast.Engine`` served by the Rust transport inside this process.

* :class:`Server` runs the transport on threads of its own: ``serve(host,
  port)`` (blocking, Ctrl-C stops it), ``await serve_async(host, port)``, or
  ``start(host, port)`` / ``shutdown()``. Broadcasts, room fan-out, framing
  and encoding never touch Python: only the handlers registered on the
  engine's namespaces (and acks) run Python code.
* :class:`ASGIApp` serves the same transport from an ASGI server (uvicorn,
  hypercorn) or mounted in Starlette/FastAPI.
* The python-socketio server API (``@sio.event``, ``@sio.on``, ``emit``,
  ``enter_room``, sessions, namespace classes...) is available on
  :class:`Server` and :class:`AsyncServer`, so a python-socketio app moves
  over by changing its import: ``import roomcast.socketio as socketio``.
  The differences that remain are listed in the package README.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import builtins
import contextlib
import functools
import inspect
import logging
import mimetypes
import os
import secrets
import threading
import time
import types
import urllib.parse
import weakref
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    Iterator,
    List,
    MutableMapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

from ._roomcast import Ack, ConnectRefusedError, Engine, Handshake, RoomcastError, Socket

try:
    from ._roomcast import SocketIoServer
except ImportError:  # pragma: no cover - builds without the feature
    raise ImportError(
        "roomcast.socketio is not available: this build of roomcast was compiled without the "
        "'socketio' feature (published wheels include it; from source: pip install ./python, "
        "which builds the default features)"
    ) from None

__all__ = [
    "ASGIApp",
    "AsyncNamespace",
    "AsyncServer",
    "ConnectionRefusedError",
    "Namespace",
    "Server",
    "exceptions",
]

log = logging.getLogger("roomcast")

_H = TypeVar("_H", bound=Callable[..., Any])

# The ASGI callable's types (as Starlette spells them).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Every server, shut down at interpreter exit (before the interpreter tears
# down the state their threads call into); weak, so unused ones go away.
_live: "weakref.WeakSet[Server]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        try:
            server.shutdown()
        except Exception:  # pragma: no cover - best effort at exit
            log.exception("roomcast: stopping a Socket.IO server at exit")


class ConnectionRefusedError(ConnectRefusedError):
    """Raise from a connect handler to refuse the connection:
    ``ConnectionRefusedError(message, data)``; the client gets a
    ``connect_error`` with that message and data (as in python-socketio)."""

    def __init__(self, *args: Any) -> None:
        message = str(args[0]) if args else "Connection rejected by server"
        data = args[1] if len(args) > 1 else None
        super().__init__(message, data)


class TimeoutError(RoomcastError, builtins.TimeoutError):
    """``call()`` got no answer in time."""


exceptions = types.SimpleNamespace(
    ConnectionRefusedError=ConnectionRefusedError,
    TimeoutError=TimeoutError,
    SocketIOError=RoomcastError,
)
"""python-socketio's ``socketio.exceptions`` names."""


# ------------------------------------------------------------- arguments

_ENVELOPE_KEYS = {"sioArgs", "sioAttachments"}


def _args_of(data: Any) -> List[Any]:
    """A handler's argument list from a payload: one argument, or the list
    of an argument envelope (several arguments, none, or binary inside)."""
    if isinstance(data, dict) and isinstance(data.get("sioArgs"), list) and set(data) <= _ENVELOPE_KEYS:
        raw = data.get("sioAttachments")
        if not raw:
            return list(data["sioArgs"])
        try:
            atts = [base64.b64decode(a) for a in raw if isinstance(a, str)]
        except ValueError:  # binascii.Error: not base64; the arguments as sent
            return list(data["sioArgs"])
        return [_fill(a, atts) for a in data["sioArgs"]]
    return [data]


def _fill(v: Any, atts: List[bytes]) -> Any:
    """Puts the attachments back in place of their placeholders (a
    placeholder naming no attachment stays as it is)."""
    if isinstance(v, dict):
        num = v.get("num")
        if v.get("_placeholder") is True and type(num) is int and len(v) == 2 and 0 <= num < len(atts):
            return atts[num]
        return {k: _fill(x, atts) for k, x in v.items()}
    if isinstance(v, list):
        return [_fill(x, atts) for x in v]
    return v


_SCALARS = (str, int, float, bool, type(None))
_BINARY = (bytes, bytearray, memoryview)


def _has_bytes(v: Any) -> bool:
    """Whether binary data is nested in ``v`` (checked on every emit: the
    common scalar leaves are tested by exact type first)."""
    t = type(v)
    if t in _SCALARS:
        return False
    if isinstance(v, _BINARY):
        return True
    if isinstance(v, dict):
        for x in v.values():
            if type(x) not in _SCALARS and _has_bytes(x):
                return True
        return False
    if isinstance(v, (list, tuple)):
        for x in v:
            if type(x) not in _SCALARS and _has_bytes(x):
                return True
        return False
    return False


def _strip(v: Any, atts: List[str]) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        atts.append(base64.b64encode(bytes(v)).decode())
        return {"_placeholder": True, "num": len(atts) - 1}
    if isinstance(v, dict):
        return {k: _strip(x, atts) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_strip(x, atts) for x in v]
    return v


def _payload(args: Sequence[Any]) -> Any:
    """The payload for an argument list (see ``_args_of``)."""
    if len(args) == 1:
        a = args[0]
        if isinstance(a, (bytes, bytearray, memoryview, str)) or not _has_bytes(a):
            if not (isinstance(a, dict) and "sioArgs" in a and set(a) <= _ENVELOPE_KEYS):
                return a
    atts: List[str] = []
    env: Dict[str, Any] = {"sioArgs": [_strip(a, atts) for a in args]}
    if atts:
        env["sioAttachments"] = atts
    return env


def _data_args(data: Any) -> List[Any]:
    """python-socketio's ``data``: a tuple is several arguments, None none."""
    if data is None:
        return []
    if isinstance(data, tuple):
        return list(data)
    return [data]


def _reply(value: Any) -> Any:
    """A handler's return value as the ack payload."""
    if value is None:
        return _payload([])
    return _payload(list(value) if isinstance(value, tuple) else [value])


def _result(args: List[Any]) -> Any:
    if not args:
        return None
    return args[0] if len(args) == 1 else tuple(args)


def _environ(hs: Handshake) -> Dict[str, Any]:
    """A WSGI-style environ from a handshake (what python-socketio hands
    connect handlers)."""
    env: Dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": urllib.parse.urlencode(hs.query),
        "REMOTE_ADDR": (hs.address or "").rsplit(":", 1)[0].strip("[]"),
        "roomcast.handshake": hs,
    }
    for k, v in hs.headers.items():
        key = k.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        env[key] = v
    return env


def _positional(f: Callable[..., Any]) -> int:
    """How many positional arguments ``f`` takes (a large number for *args)."""
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return 99
    n = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return 99
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


# ------------------------------------------------------------ the server


class Server:
    """A Socket.IO server for a :class:`roomcast.Engine` (a new one when
    ``engine`` is None), with the python-socketio server API.

    Options match the Rust builder: ``path``, ``ping_interval`` /
    ``ping_timeout`` (seconds), ``max_payload`` (bytes; python-socketio's
    ``max_http_buffer_size`` is accepted as its alias), ``connect_timeout``,
    ``cors_allowed_origins`` (None: no CORS headers; ``"*"``: any origin; or
    a list of origins) and ``allow_request`` (``hook(request: dict) ->
    bool`` for each request that opens a session, with ``method``,
    ``path``, ``query``, ``headers`` and ``address``). ``threads`` is the
    number of transport threads. python-socketio's ``async_mode``,
    ``logger``, ``engineio_logger`` and ``transports`` are accepted and
    ignored (both transports are always served).

    Handlers registered here (``@sio.event``, ``@sio.on``) take ``sid`` and
    the event's arguments, as in python-socketio; handlers registered on
    the engine's namespaces take roomcast ``Socket`` objects. Both kinds
    run; handlers of the sync ``Server`` run on transport threads.
    """

    _async = False

    def __init__(
        self,
        engine: Optional[Engine] = None,
        *,
        path: str = "/socket.io",
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_payload: Optional[int] = None,
        max_http_buffer_size: Optional[int] = None,
        connect_timeout: float = 10.0,
        cors_allowed_origins: Union[None, str, Sequence[str]] = None,
        allow_request: Optional[Callable[[Dict[str, Any]], bool]] = None,
        threads: int = 2,
        async_mode: Optional[str] = None,
        logger: Any = False,
        engineio_logger: Any = False,
        transports: Optional[Sequence[str]] = None,
    ) -> None:
        self.engine = engine if engine is not None else Engine()
        if max_payload is not None and max_http_buffer_size is not None:
            raise TypeError("give max_payload or max_http_buffer_size, not both")
        payload = max_payload if max_payload is not None else max_http_buffer_size
        self.path = "/" + path.strip("/")
        self._native = SocketIoServer(
            self.engine,
            path=self.path,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_payload=payload,
            connect_timeout=connect_timeout,
            cors_allowed_origins=(
                cors_allowed_origins
                if cors_allowed_origins is None or isinstance(cors_allowed_origins, str)
                else list(cors_allowed_origins)
            ),
            allow_request=allow_request,
            threads=threads,
        )
        self.max_payload = payload if payload is not None else 1_000_000
        _live.add(self)  # its threads (listener or ASGI bridge) stop at exit
        # python-socketio state: handlers by namespace and event, the sid
        # of each roomcast socket, sessions and environs by sid.
        self.handlers: Dict[str, Dict[str, Callable[..., Any]]] = {}
        self.namespace_handlers: Dict[str, "Namespace"] = {}
        self._set_up: Dict[str, Any] = {}  # roomcast namespaces wired to the dispatch
        self._routed: "set[Tuple[str, str]]" = set()  # (namespace, event) routed
        self._sockets: Dict[Tuple[str, str], Socket] = {}
        self._sid_of: Dict[Tuple[str, str], str] = {}
        self._sessions: Dict[Tuple[str, str], Dict[str, Any]] = {}
        self._environs: Dict[str, Dict[str, Any]] = {}
        self._pending: Dict[Tuple[str, str], List[Callable[[Socket], object]]] = {}
        # The sid made by the connect middleware, by (OS thread, namespace):
        # roomcast runs a join's middleware and connection handlers on one
        # thread, one after the other. (Not a threading.local: a transport
        # thread gets a fresh Python thread state for each call.)
        self._connecting: Dict[Tuple[int, str], str] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------ running

    @property
    def address(self) -> Optional[Tuple[str, int]]:
        """The ``(host, port)`` the server listens on, or None."""
        return self._native.address

    def start(self, host: str = "127.0.0.1", port: int = 5000) -> Tuple[str, int]:
        """Listens on ``host:port`` (0: a free port) in the background and
        returns the bound address; ``shutdown()`` stops it."""
        return self._native.start(host, port)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Waits until the server stops (at most ``timeout`` seconds);
        whether it stopped. Ctrl-C interrupts it."""
        return self._native.wait(timeout)

    def serve(self, host: str = "127.0.0.1", port: int = 5000) -> None:
        """Serves until Ctrl-C (or ``shutdown()`` from another thread),
        then stops cleanly."""
        self.start(host, port)
        try:
            self.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.shutdown()

    async def serve_async(self, host: str = "127.0.0.1", port: int = 5000) -> None:
        """Serves until cancelled (or ``shutdown()``); coroutine handlers
        run on the calling loop unless the engine has one already."""
        self._native.adopt_loop(asyncio.get_running_loop())
        self.start(host, port)
        try:
            while not await asyncio.get_running_loop().run_in_executor(None, self._native.wait, 0.25):
                pass
        finally:
            await asyncio.get_running_loop().run_in_executor(None, self.shutdown)

    def shutdown(self) -> None:
        """Disconnects every client (``server shutting down``) and stops."""
        self._native.shutdown()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ------------------------------------- python-socketio: handlers

    def on(
        self, event: str, handler: Optional[Callable[..., Any]] = None, namespace: Optional[str] = None
    ) -> Any:
        """Registers ``handler(sid, *args)`` for ``event`` (as a decorator
        without ``handler``). ``connect`` handlers take ``(sid, environ[,
        auth])``, ``disconnect`` handlers ``(sid[, reason])``, ``"*"``
        handlers ``(event, sid, *args)``."""
        ns = namespace or "/"

        def register(h: _H) -> _H:
            self._setup(ns)
            self.handlers.setdefault(ns, {})[event] = h
            if event not in ("connect", "disconnect"):
                self._route(ns, event)
            return h

        if handler is not None:
            register(handler)
            return None
        return register

    def event(self, *args: Any, **kwargs: Any) -> Any:
        """``@sio.event`` (the function's name is the event) or
        ``@sio.event(namespace="/chat")``."""
        if len(args) == 1 and not kwargs and callable(args[0]):
            return self.on(args[0].__name__)(args[0])

        def deco(h: _H) -> _H:
            return self.on(h.__name__, *args, **kwargs)(h)  # type: ignore[no-any-return]

        return deco

    def register_namespace(self, namespace_handler: "Namespace") -> None:
        """Registers a namespace class instance: its ``on_<event>`` methods
        handle ``<event>``."""
        if not isinstance(namespace_handler, Namespace):
            raise ValueError("not a namespace instance")
        if self._async != isinstance(namespace_handler, AsyncNamespace):
            raise ValueError("AsyncNamespace goes with AsyncServer, Namespace with Server")
        namespace_handler._set_server(self)
        ns = namespace_handler.namespace
        self._setup(ns)
        self.namespace_handlers[ns] = namespace_handler
        for name in dir(namespace_handler):
            if name.startswith("on_") and callable(getattr(namespace_handler, name)):
                event = name[3:]
                if event not in ("connect", "disconnect"):
                    self._route(ns, event)

    def _handler(self, ns: str, event: str) -> Optional[Callable[..., Any]]:
        h = self.handlers.get(ns, {}).get(event)
        if h is not None:
            return h
        cls = self.namespace_handlers.get(ns)
        if cls is not None:
            m = getattr(cls, "on_" + event, None)
            if callable(m):
                return m  # type: ignore[no-any-return]
        return None

    def _setup(self, ns: str) -> None:
        """Connects the python-socketio dispatch to roomcast namespace
        ``ns`` (once)."""
        with self._lock:
            if ns in self._set_up:
                return
            nsp = self.engine.of(ns)
            self._set_up[ns] = nsp
        nsp.use(functools.partial(self._on_handshake, ns))
        nsp.on_connection(functools.partial(self._on_connection, ns))
        nsp.on_disconnect(functools.partial(self._on_disconnect, ns))

    def _route(self, ns: str, event: str) -> None:
        """Routes ``event`` of ``ns`` to the python-socketio handler (once);
        ``"*"`` takes the events no other handler takes."""
        with self._lock:
            if (ns, event) in self._routed:
                return
            self._routed.add((ns, event))
        nsp = self._set_up[ns]
        if event == "*":
            nsp.on_fallback(functools.partial(self._on_catch_all, ns))
        else:
            nsp.on(event)(functools.partial(self._on_event, ns, event))

    # The roomcast side of a connection. The connect handler runs as
    # middleware (so it can refuse), before roomcast creates the socket:
    # the sid is ours, made here, and what the handler does to it (emits,
    # rooms) is applied once the socket exists, in ``_on_connection`` (run
    # right after, on the same thread).

    def _on_handshake(self, ns: str, hs: Handshake) -> Any:
        sid = secrets.token_urlsafe(15)
        key = (ns, sid)
        self._pending[key] = []
        self._connecting[(threading.get_ident(), ns)] = sid
        environ = _environ(hs)
        self._environs[sid] = environ
        h = self._handler(ns, "connect")
        if h is None:
            return None
        args: List[Any] = [sid, environ]
        if _positional(h) >= 3:
            args.append(hs.auth)
        return self._run_connect(key, h, args)

    def _refuse(self, key: Tuple[str, str], result: Any, err: Optional[BaseException]) -> None:
        if err is None and result is not False:
            return
        self._pending.pop(key, None)
        self._environs.pop(key[1], None)
        if err is None:
            raise ConnectRefusedError("Connection rejected by server")
        if isinstance(err, ConnectRefusedError):
            raise err
        if isinstance(err, builtins.ConnectionRefusedError):
            raise ConnectionRefusedError(*err.args) from err
        raise err

    def _run_connect(self, key: Tuple[str, str], h: Callable[..., Any], args: List[Any]) -> Any:
        try:
            r = h(*args)
        except BaseException as e:
            self._refuse(key, None, e)
            raise
        if inspect.isawaitable(r):
            return self._await_connect(key, r)
        self._refuse(key, r, None)
        return None

    async def _await_connect(self, key: Tuple[str, str], aw: Awaitable[Any]) -> None:
        try:
            r = await aw
        except BaseException as e:
            self._refuse(key, None, e)
            raise
        self._refuse(key, r, None)

    def _on_connection(self, ns: str, socket: Socket) -> None:
        sid = self._connecting.pop((threading.get_ident(), ns), None)
        if sid is None:  # joined without our middleware having run: own sid
            sid = secrets.token_urlsafe(15)
        key = (ns, sid)
        self._sockets[key] = socket
        self._sid_of[(ns, socket.id)] = sid
        socket.join(sid)  # `to=sid` is the room named after the sid
        for op in self._pending.pop(key, []):
            op(socket)

    def _on_disconnect(self, ns: str, socket: Socket, reason: str) -> Any:
        sid = self._sid_of.pop((ns, socket.id), None)
        if sid is None:
            return None
        self._sockets.pop((ns, sid), None)
        h = self._handler(ns, "disconnect")
        if h is None:
            self._forget(ns, sid)
            return None
        try:
            r = h(sid, reason) if _positional(h) >= 2 else h(sid)
        except BaseException:
            self._forget(ns, sid)
            raise
        if inspect.isawaitable(r):
            return self._forget_after(ns, sid, r)
        self._forget(ns, sid)
        return None

    def _forget(self, ns: str, sid: str) -> None:
        self._sessions.pop((ns, sid), None)
        self._environs.pop(sid, None)

    async def _forget_after(self, ns: str, sid: str, aw: Awaitable[Any]) -> None:
        try:
            await aw
        finally:
            self._forget(ns, sid)

    def _on_event(self, ns: str, event: str, socket: Socket, data: Any, ack: Optional[Ack]) -> Any:
        sid = self._sid_of.get((ns, socket.id))
        h = self._handler(ns, event)
        if sid is None or h is None:
            return None
        return self._answer(h(sid, *_args_of(data)), ack)

    def _on_catch_all(self, ns: str, socket: Socket, event: str, data: Any, ack: Optional[Ack]) -> Any:
        sid = self._sid_of.get((ns, socket.id))
        h = self._handler(ns, "*")
        if sid is None or h is None:
            return None
        return self._answer(h(event, sid, *_args_of(data)), ack)

    def _answer(self, r: Any, ack: Optional[Ack]) -> Any:
        if inspect.isawaitable(r):
            return self._answer_later(r, ack)
        if ack is not None:
            ack(_reply(r))
        return None

    async def _answer_later(self, aw: Awaitable[Any], ack: Optional[Ack]) -> None:
        r = await aw
        if ack is not None:
            ack(_reply(r))

    # ---------------------------------------- python-socketio: actions

    def _socket(self, sid: str, namespace: Optional[str]) -> Optional[Socket]:
        return self._sockets.get((namespace or "/", sid))

    def _later(self, sid: str, namespace: Optional[str], op: Callable[[Socket], object]) -> bool:
        """Runs ``op`` on the socket of ``sid`` now, or when its connect
        handler has finished; False for an unknown sid."""
        ns = namespace or "/"
        s = self._sockets.get((ns, sid))
        if s is not None:
            op(s)
            return True
        pending = self._pending.get((ns, sid))
        if pending is not None:
            pending.append(op)
            return True
        return False

    def _emit(
        self,
        event: str,
        data: Any = None,
        to: Union[None, str, Sequence[str]] = None,
        room: Union[None, str, Sequence[str]] = None,
        skip_sid: Union[None, str, Sequence[str]] = None,
        namespace: Optional[str] = None,
        callback: Optional[Callable[..., Any]] = None,
    ) -> None:
        ns = namespace or "/"
        target = to if to is not None else room
        payload = _payload(_data_args(data))
        if isinstance(target, str) and callback is not None:
            # An ack is asked of one client: python-socketio calls
            # callback(*reply) when it answers.
            self._later(target, ns, lambda s: self._ack(s, event, payload, callback))
            return
        if isinstance(target, str) and (ns, target) in self._pending:
            self._later(target, ns, lambda s: s.emit(event, payload))
            return
        self._setup(ns)
        op: Any = self._set_up[ns]
        if target is not None:
            op = op.to(target if isinstance(target, str) else list(target))
        if skip_sid is not None:
            op = op.except_(skip_sid if isinstance(skip_sid, str) else list(skip_sid))
        op.emit(event, payload)

    def _ack(self, s: Socket, event: str, payload: Any, callback: Callable[..., Any]) -> None:
        def wait() -> None:
            r = s.emit_with_ack(event, payload)
            if r.error is None:
                callback(*_args_of(r.data))

        threading.Thread(target=wait, name="roomcast-ack", daemon=True).start()

    def emit(
        self,
        event: str,
        data: Any = None,
        to: Union[None, str, Sequence[str]] = None,
        room: Union[None, str, Sequence[str]] = None,
        skip_sid: Union[None, str, Sequence[str]] = None,
        namespace: Optional[str] = None,
        callback: Optional[Callable[..., Any]] = None,
        ignore_queue: bool = False,
    ) -> None:
        """Emits ``event`` to everyone in ``namespace``, to a room or sid
        (``to``/``room``), except ``skip_sid``; a tuple ``data`` is several
        arguments. ``callback(*reply)`` runs when the one addressed client
        acknowledges."""
        self._emit(event, data, to, room, skip_sid, namespace, callback)

    def send(
        self,
        data: Any,
        to: Union[None, str, Sequence[str]] = None,
        room: Union[None, str, Sequence[str]] = None,
        skip_sid: Union[None, str, Sequence[str]] = None,
        namespace: Optional[str] = None,
        callback: Optional[Callable[..., Any]] = None,
        ignore_queue: bool = False,
    ) -> None:
        """``emit("message", data, ...)``."""
        self._emit("message", data, to, room, skip_sid, namespace, callback)

    def _call_start(self, event: str, data: Any, to: Optional[str], sid: Optional[str], namespace: Optional[str]) -> Socket:
        target = to if to is not None else sid
        if target is None:
            raise ValueError("call() needs to= (a client's sid)")
        s = self._socket(target, namespace)
        if s is None:
            raise ValueError(f"unknown sid {target!r}")
        return s

    def call(
        self,
        event: str,
        data: Any = None,
        to: Optional[str] = None,
        sid: Optional[str] = None,
        namespace: Optional[str] = None,
        timeout: float = 60,
        ignore_queue: bool = False,
    ) -> Any:
        """Emits to one client and waits for its acknowledgement; returns
        the reply (a tuple for several arguments). Raises
        ``exceptions.TimeoutError`` after ``timeout`` seconds."""
        s = self._call_start(event, data, to, sid, namespace)
        r = s.emit_with_ack(event, _payload(_data_args(data)), timeout=timeout)
        if r.error is not None:
            raise TimeoutError(str(r.error)) from r.error
        return _result(_args_of(r.data))

    def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        """Puts client ``sid`` in ``room``."""
        self._later(sid, namespace, lambda s: s.join(room))

    def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        """Takes client ``sid`` out of ``room``."""
        self._later(sid, namespace, lambda s: s.leave(room) if room != sid else None)

    def close_room(self, room: str, namespace: Optional[str] = None) -> None:
        """Takes every client out of ``room``."""
        ns = namespace or "/"
        self._setup(ns)
        self._set_up[ns].to(room).sockets_leave(room)

    def rooms(self, sid: str, namespace: Optional[str] = None) -> List[str]:
        """The rooms of client ``sid``: its own sid room first."""
        s = self._socket(sid, namespace)
        if s is None:
            return [sid] if (namespace or "/", sid) in self._pending else []
        return [sid] + [r for r in s.rooms if r not in (s.id, sid)]

    def disconnect(self, sid: str, namespace: Optional[str] = None, ignore_queue: bool = False) -> None:
        """Disconnects client ``sid`` from ``namespace``."""
        s = self._socket(sid, namespace)
        if s is not None:
            s.disconnect()

    def get_session(self, sid: str, namespace: Optional[str] = None) -> Dict[str, Any]:
        """The session dict of client ``sid``."""
        return self._sessions.setdefault((namespace or "/", sid), {})

    def save_session(self, sid: str, session: Dict[str, Any], namespace: Optional[str] = None) -> None:
        """Replaces the session dict of client ``sid``."""
        self._sessions[(namespace or "/", sid)] = session

    @contextlib.contextmanager
    def session(self, sid: str, namespace: Optional[str] = None) -> Iterator[Dict[str, Any]]:
        """``with sio.session(sid) as session:`` edits and saves it."""
        s = self.get_session(sid, namespace)
        yield s
        self.save_session(sid, s, namespace)

    def get_environ(self, sid: str, namespace: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """The environ the connect handler got for ``sid``."""
        return self._environs.get(sid)

    def transport(self, sid: str, namespace: Optional[str] = None) -> str:
        """python-socketio reports "polling" or "websocket"; roomcast does
        not expose it per client and answers "websocket"."""
        return "websocket"

    def start_background_task(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Runs ``target(*args, **kwargs)`` in a daemon thread; returns it."""
        t = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)
        t.start()
        return t

    def sleep(self, seconds: float = 0) -> Any:
        """``time.sleep``."""
        time.sleep(seconds)


class AsyncServer(Server):
    """:class:`Server` for asyncio apps, with python-socketio's
    ``AsyncServer`` API: ``emit``, ``send``, ``call``, ``close_room``,
    ``disconnect``, the session methods and ``sleep`` are coroutines,
    ``start_background_task`` makes a task, and handlers may be ``async
    def`` (they run on the loop that serves: the ASGI server's, or the one
    ``serve_async`` runs on, unless ``Engine(loop=...)`` names one)."""

    _async = True

    def _ack(self, s: Socket, event: str, payload: Any, callback: Callable[..., Any]) -> None:
        async def wait() -> None:
            r = await s.emit_with_ack_async(event, payload)
            if r.error is None:
                v = callback(*_args_of(r.data))
                if inspect.isawaitable(v):
                    await v

        loop = self.engine.loop
        if loop is None:
            raise RoomcastError("callback= needs the server's event loop (serve it first)")
        asyncio.run_coroutine_threadsafe(wait(), loop)

    async def emit(  # type: ignore[override]
        self,
        event: str,
        data: Any = None,
        to: Union[None, str, Sequence[str]] = None,
        room: Union[None, str, Sequence[str]] = None,
        skip_sid: Union[None, str, Sequence[str]] = None,
        namespace: Optional[str] = None,
        callback: Optional[Callable[..., Any]] = None,
        ignore_queue: bool = False,
    ) -> None:
        """See :meth:`Server.emit`."""
        self._emit(event, data, to, room, skip_sid, namespace, callback)

    async def send(  # type: ignore[override]
        self,
        data: Any,
        to: Union[None, str, Sequence[str]] = None,
        room: Union[None, str, Sequence[str]] = None,
        skip_sid: Union[None, str, Sequence[str]] = None,
        namespace: Optional[str] = None,
        callback: Optional[Callable[..., Any]] = None,
        ignore_queue: bool = False,
    ) -> None:
        """See :meth:`Server.send`."""
        self._emit("message", data, to, room, skip_sid, namespace, callback)

    async def call(
        self,
        event: str,
        data: Any = None,
        to: Optional[str] = None,
        sid: Optional[str] = None,
        namespace: Optional[str] = None,
        timeout: float = 60,
        ignore_queue: bool = False,
    ) -> Any:
        """See :meth:`Server.call`."""
        s = self._call_start(event, data, to, sid, namespace)
        r = await s.emit_with_ack_async(event, _payload(_data_args(data)), timeout=timeout)
        if r.error is not None:
            raise TimeoutError(str(r.error)) from r.error
        return _result(_args_of(r.data))

    async def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:  # type: ignore[override]
        """See :meth:`Server.enter_room`."""
        Server.enter_room(self, sid, room, namespace)

    async def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:  # type: ignore[override]
        """See :meth:`Server.leave_room`."""
        Server.leave_room(self, sid, room, namespace)

    async def close_room(self, room: str, namespace: Optional[str] = None) -> None:  # type: ignore[override]
        """See :meth:`Server.close_room`."""
        Server.close_room(self, room, namespace)

    async def disconnect(  # type: ignore[override]
        self, sid: str, namespace: Optional[str] = None, ignore_queue: bool = False
    ) -> None:
        """See :meth:`Server.disconnect`."""
        Server.disconnect(self, sid, namespace)

    async def get_session(self, sid: str, namespace: Optional[str] = None) -> Dict[str, Any]:  # type: ignore[override]
        """See :meth:`Server.get_session`."""
        return Server.get_session(self, sid, namespace)

    async def save_session(  # type: ignore[override]
        self, sid: str, session: Dict[str, Any], namespace: Optional[str] = None
    ) -> None:
        """See :meth:`Server.save_session`."""
        Server.save_session(self, sid, session, namespace)

    @contextlib.asynccontextmanager
    async def session(  # type: ignore[override]
        self, sid: str, namespace: Optional[str] = None
    ) -> AsyncIterator[Dict[str, Any]]:
        """``async with sio.session(sid) as session:``."""
        s = Server.get_session(self, sid, namespace)
        yield s
        Server.save_session(self, sid, s, namespace)

    def start_background_task(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Runs the coroutine function ``target(*args, **kwargs)`` as a task
        (on the server's loop when called from another thread)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            loop = self.engine.loop
            if loop is None:
                raise RoomcastError("start_background_task needs a running loop or a served server") from None
            return asyncio.run_coroutine_threadsafe(target(*args, **kwargs), loop)
        return asyncio.ensure_future(target(*args, **kwargs))

    async def sleep(self, seconds: float = 0) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)

    async def shutdown_async(self) -> None:
        """``shutdown()`` without blocking the loop."""
        await asyncio.get_running_loop().run_in_executor(None, self.shutdown)


# ------------------------------------------------------------ namespaces


class Namespace:
    """A class-based namespace: ``on_<event>(self, sid, *args)`` methods
    handle ``<event>`` (``on_connect(self, sid, environ[, auth])``,
    ``on_disconnect(self, sid[, reason])``); register it with
    ``sio.register_namespace(MyNamespace("/chat"))``."""

    def __init__(self, namespace: Optional[str] = None) -> None:
        self.namespace = namespace or "/"
        self.server: Optional[Server] = None

    def _set_server(self, server: Server) -> None:
        self.server = server

    def _srv(self) -> Server:
        if self.server is None:
            raise RoomcastError("the namespace is not registered with a server")
        return self.server

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Calls ``on_<event>(*args)`` if defined."""
        h = getattr(self, "on_" + event, None)
        return h(*args) if callable(h) else None

    def emit(self, event: str, data: Any = None, to: Any = None, room: Any = None, skip_sid: Any = None,
             namespace: Optional[str] = None, callback: Optional[Callable[..., Any]] = None) -> Any:
        """``server.emit`` in this namespace."""
        return self._srv().emit(event, data, to=to, room=room, skip_sid=skip_sid,
                                namespace=namespace or self.namespace, callback=callback)

    def send(self, data: Any, to: Any = None, room: Any = None, skip_sid: Any = None,
             namespace: Optional[str] = None, callback: Optional[Callable[..., Any]] = None) -> Any:
        """``server.send`` in this namespace."""
        return self._srv().send(data, to=to, room=room, skip_sid=skip_sid,
                                namespace=namespace or self.namespace, callback=callback)

    def call(self, event: str, data: Any = None, to: Optional[str] = None, sid: Optional[str] = None,
             namespace: Optional[str] = None, timeout: float = 60) -> Any:
        """``server.call`` in this namespace."""
        return self._srv().call(event, data, to=to, sid=sid, namespace=namespace or self.namespace, timeout=timeout)

    def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        """``server.enter_room`` in this namespace."""
        self._srv().enter_room(sid, room, namespace=namespace or self.namespace)

    def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        """``server.leave_room`` in this namespace."""
        self._srv().leave_room(sid, room, namespace=namespace or self.namespace)

    def close_room(self, room: str, namespace: Optional[str] = None) -> Any:
        """``server.close_room`` in this namespace."""
        return self._srv().close_room(room, namespace=namespace or self.namespace)

    def rooms(self, sid: str, namespace: Optional[str] = None) -> List[str]:
        """``server.rooms`` in this namespace."""
        return self._srv().rooms(sid, namespace=namespace or self.namespace)

    def get_session(self, sid: str, namespace: Optional[str] = None) -> Any:
        """``server.get_session`` in this namespace."""
        return self._srv().get_session(sid, namespace=namespace or self.namespace)

    def save_session(self, sid: str, session: Dict[str, Any], namespace: Optional[str] = None) -> Any:
        """``server.save_session`` in this namespace."""
        return self._srv().save_session(sid, session, namespace=namespace or self.namespace)

    def session(self, sid: str, namespace: Optional[str] = None) -> Any:
        """``server.session`` in this namespace."""
        return self._srv().session(sid, namespace=namespace or self.namespace)

    def disconnect(self, sid: str, namespace: Optional[str] = None) -> Any:
        """``server.disconnect`` in this namespace."""
        return self._srv().disconnect(sid, namespace=namespace or self.namespace)


class AsyncNamespace(Namespace):
    """:class:`Namespace` for :class:`AsyncServer`: its methods that the
    server makes coroutines are awaitable here too, and ``on_<event>``
    methods may be ``async def``."""


# ------------------------------------------------------------------ ASGI


class ASGIApp:
    """An ASGI application serving ``server``'s Socket.IO transport at
    ``/socketio_path`` (under uvicorn, hypercorn, or mounted in
    Starlette/FastAPI). Other requests go to ``other_asgi_app`` (404
    without one), or to ``static_files`` (``{"/": "index.html",
    "/static": "./public"}``, or a dict with ``filename`` and
    ``content_type``); the lifespan protocol goes to ``other_asgi_app``
    when there is one.

    ASGI carries every byte through Python: each HTTP request is one call
    into the transport with its whole body, and each WebSocket message
    crosses the Python/Rust boundary once each way. The native listener
    (``Server.start``) avoids that; see the README for the cost.
    """

    def __init__(
        self,
        socketio_server: Server,
        other_asgi_app: Any = None,
        static_files: Optional[Dict[str, Any]] = None,
        socketio_path: str = "socket.io",
        on_startup: Optional[Callable[[], Any]] = None,
        on_shutdown: Optional[Callable[[], Any]] = None,
    ) -> None:
        self.server = socketio_server
        self.other_asgi_app = other_asgi_app
        self.static_files = static_files or {}
        self.socketio_path = "/" + socketio_path.strip("/")
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown

    def _target(self, scope: Scope) -> Optional[str]:
        """The transport's request target for ``scope``, or None when the
        request is not for Socket.IO."""
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "") or ""
        if root and path.startswith(root):
            path = path[len(root):]
        if path.rstrip("/") != self.socketio_path:
            return None
        qs = scope.get("query_string", b"")
        target = self.server.path + "/"
        return target + ("?" + qs.decode("latin-1") if qs else "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        target = self._target(scope) if kind in ("http", "websocket") else None
        if target is not None:
            self.server._native.adopt_loop(asyncio.get_running_loop())
            if kind == "http":
                await self._http(scope, receive, send, target)
            else:
                await self._websocket(scope, receive, send, target)
            return
        if kind == "http" and await self._static(scope, send):
            return
        if self.other_asgi_app is not None:
            await self.other_asgi_app(scope, receive, send)
            return
        if kind == "http":
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"Not Found"})
        else:
            await send({"type": "websocket.close", "code": 1000})

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.other_asgi_app is not None and self.on_startup is None and self.on_shutdown is None:
            try:
                await self.other_asgi_app(scope, receive, send)
            finally:
                await asyncio.get_running_loop().run_in_executor(None, self.server._native.shutdown)
            return
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                self.server._native.adopt_loop(asyncio.get_running_loop())
                try:
                    if self.on_startup is not None:
                        r = self.on_startup()
                        if inspect.isawaitable(r):
                            await r
                except Exception as e:
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                try:
                    if self.on_shutdown is not None:
                        r = self.on_shutdown()
                        if inspect.isawaitable(r):
                            await r
                finally:
                    await asyncio.get_running_loop().run_in_executor(None, self.server._native.shutdown)
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    def _client(scope: Scope) -> Optional[Tuple[str, int]]:
        c = scope.get("client")
        return (str(c[0]), int(c[1])) if c else None

    async def _http(self, scope: Scope, receive: Receive, send: Send, target: str) -> None:
        limit = self.server.max_payload + 64 * 1024
        chunks: List[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body = msg.get("body", b"")
            size += len(body)
            if size > limit:
                await send({"type": "http.response.start", "status": 413, "headers": []})
                await send({"type": "http.response.body", "body": b"Payload Too Large"})
                return
            chunks.append(body)
            if not msg.get("more_body", False):
                break
        loop = asyncio.get_running_loop()
        fut: "asyncio.Future[Tuple[Any, Any, Any]]" = loop.create_future()

        def done(*result: Any) -> None:
            loop.call_soon_threadsafe(_settle, fut, result)

        self.server._native.http(
            scope.get("method", "GET"), target, list(scope.get("headers", [])), b"".join(chunks),
            self._client(scope), done,
        )
        if len(await asyncio.shield(fut)) == 2:
            _, message = fut.result()  # type: ignore[misc]
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": str(message).encode()})
            return
        status, headers, body = fut.result()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, target: str) -> None:
        msg = await receive()
        if msg["type"] != "websocket.connect":
            return
        loop = asyncio.get_running_loop()
        events: "asyncio.Queue[Tuple[str, Any]]" = asyncio.Queue()

        def on_event(kind: str, data: Any) -> None:
            loop.call_soon_threadsafe(events.put_nowait, (kind, data))

        headers = list(scope.get("headers", []))
        bridge = self.server._native.websocket(target, headers, self._client(scope), on_event)
        kind, data = await events.get()
        if kind != "open":
            bridge.close()
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})

        async def outgoing() -> None:
            while True:
                kind, data = await events.get()
                if kind == "messages":
                    for m in data:
                        if isinstance(m, str):
                            await send({"type": "websocket.send", "text": m})
                        else:
                            await send({"type": "websocket.send", "bytes": m})
                elif kind == "close":
                    await send({"type": "websocket.close", "code": 1000})
                    return

        out = asyncio.ensure_future(outgoing())
        try:
            while True:
                msg = await receive()
                if msg["type"] == "websocket.receive":
                    text = msg.get("text")
                    while True:
                        ok = bridge.send_text(text) if text is not None else bridge.send_bytes(msg.get("bytes") or b"")
                        if ok:
                            break
                        await asyncio.sleep(0.001)  # the session reads behind: wait for room
                elif msg["type"] == "websocket.disconnect":
                    break
        except RoomcastError:
            pass  # the session ended; `outgoing` closes the socket
        finally:
            bridge.close()
            try:
                await asyncio.wait_for(out, 5)
            except Exception:
                out.cancel()

    async def _static(self, scope: Scope, send: Send) -> bool:
        path: str = scope.get("path", "")
        for prefix in sorted(self.static_files, key=len, reverse=True):
            spec = self.static_files[prefix]
            if isinstance(spec, dict):
                filename, ctype = spec.get("filename"), spec.get("content_type")
            else:
                filename, ctype = spec, None
            if path == prefix:
                fname = filename
            elif path.startswith(prefix.rstrip("/") + "/") and filename and os.path.isdir(filename):
                rest = path[len(prefix.rstrip("/")) + 1:]
                fname = os.path.normpath(os.path.join(filename, rest))
                if not fname.startswith(os.path.normpath(filename) + os.sep):
                    continue
            else:
                continue
            if fname and os.path.isdir(fname):
                fname = os.path.join(fname, "index.html")
            if not fname or not os.path.isfile(fname):
                continue
            with open(fname, "rb") as f:
                body = f.read()
            ctype = ctype or mimetypes.guess_type(fname)[0] or "application/octet-stream"
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", ctype.encode())]})
            await send({"type": "http.response.body", "body": body})
            return True
        return False


def _settle(fut: "asyncio.Future[Any]", result: Any) -> None:
    if not fut.done():
        fut.set_result(result)
