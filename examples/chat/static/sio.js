// A small Socket.IO v5 client over one WebSocket (Engine.IO v4).
//
// Speaks: the Engine.IO open/ping/pong/message/close packets, and the
// Socket.IO CONNECT (with an auth payload), DISCONNECT, EVENT, ACK and
// CONNECT_ERROR packets of one namespace. No long-polling, no binary
// attachments. On a dropped transport it reconnects with exponential
// backoff and jitter and sends CONNECT again; emits made while offline wait
// in a buffer and go out after the next connect.

const EIO_OPEN = "0";
const EIO_CLOSE = "1";
const EIO_PING = "2";
const EIO_PONG = "3";
const EIO_MESSAGE = "4";

const SIO_CONNECT = 0;
const SIO_DISCONNECT = 1;
const SIO_EVENT = 2;
const SIO_ACK = 3;
const SIO_CONNECT_ERROR = 4;

/** Encodes one Socket.IO packet (as the payload of an Engine.IO message). */
export function encodePacket(type, nsp, id, data) {
  let out = String(type);
  if (nsp && nsp !== "/") out += nsp + ",";
  if (id !== undefined && id !== null) out += String(id);
  if (data !== undefined) out += JSON.stringify(data);
  return out;
}

/** Decodes one Socket.IO packet; throws on malformed input. */
export function decodePacket(text) {
  const type = text.charCodeAt(0) - 48;
  if (!(type >= 0 && type <= 6)) throw new Error("bad packet type");
  let i = 1;
  if (type === 5 || type === 6) throw new Error("binary packets are not supported");
  let nsp = "/";
  if (text[i] === "/") {
    const comma = text.indexOf(",", i);
    if (comma < 0) {
      nsp = text.slice(i);
      i = text.length;
    } else {
      nsp = text.slice(i, comma);
      i = comma + 1;
    }
  }
  let id = null;
  const start = i;
  while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
  if (i > start) id = Number(text.slice(start, i));
  const data = i < text.length ? JSON.parse(text.slice(i)) : undefined;
  return { type, nsp, id, data };
}

/**
 * One Socket.IO socket on one namespace, over its own WebSocket.
 *
 *   const s = new SioSocket("/", { auth: { name: "ada" } });
 *   s.on("connect", () => ...); s.on("chat", (msg) => ...);
 *   s.emit("join", { room: "lobby" }, (reply) => ...);
 *   const reply = await s.emitWithAck("list rooms", {}, 2000);
 */
export class SioSocket {
  constructor(nsp = "/", opts = {}) {
    this.nsp = nsp;
    this.auth = opts.auth;
    this.url = opts.url || defaultUrl(opts.path || "/socket.io/");
    this.reconnection = opts.reconnection !== false;
    this.delayMin = opts.reconnectionDelay ?? 500;
    this.delayMax = opts.reconnectionDelayMax ?? 5000;
    this.connected = false;
    this.id = null;
    this.ws = null;
    this.attempts = 0;
    this.handlers = new Map();
    this.acks = new Map();
    this.nextAckId = 0;
    this.buffer = [];
    this.stopped = false;
    this.pingTimer = null;
    this.retryTimer = null;
    this.pingWindow = 45000;
    // Connection state recovery: the private session id from the last
    // CONNECT reply and the offset of the last event received (the string
    // the server appends to each event it keeps).
    this.pid = null;
    this.lastOffset = undefined;
    this.open();
  }

  /** Registers a listener; events "connect", "disconnect", "connect_error" and "reconnect_attempt" come from the client itself. */
  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(fn);
    return this;
  }

  off(event, fn) {
    const list = this.handlers.get(event);
    if (list) this.handlers.set(event, fn ? list.filter((f) => f !== fn) : []);
    return this;
  }

  /** Sends an event; a function as the last argument asks for an acknowledgement. */
  emit(event, ...args) {
    let id = null;
    if (args.length && typeof args[args.length - 1] === "function") {
      id = this.nextAckId++;
      this.acks.set(id, args.pop());
    }
    const frame = EIO_MESSAGE + encodePacket(SIO_EVENT, this.nsp, id, [event, ...args]);
    if (this.connected) this.ws.send(frame);
    else this.buffer.push(frame);
    return this;
  }

  /** Sends an event and resolves with the first argument of the reply (rejects after `timeout` ms). */
  emitWithAck(event, data, timeout = 5000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ack for ${event} within ${timeout} ms`)), timeout);
      this.emit(event, data, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  }

  /** Leaves the namespace and closes the transport for good. */
  disconnect() {
    this.stopped = true;
    this.pid = null;
    clearTimeout(this.retryTimer);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      if (this.connected) this.ws.send(EIO_MESSAGE + encodePacket(SIO_DISCONNECT, this.nsp));
      this.ws.close();
    }
    this.lost("io client disconnect");
  }

  // ---- internals ----

  fire(event, ...args) {
    for (const fn of this.handlers.get(event) || []) {
      try {
        fn(...args);
      } catch (err) {
        console.error(`listener for ${event} failed`, err);
      }
    }
  }

  open() {
    const ws = new WebSocket(`${this.url}?EIO=4&transport=websocket`);
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (this.ws === ws && typeof ev.data === "string") this.onFrame(ev.data);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.lost("transport close");
      this.retry();
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  onFrame(frame) {
    switch (frame[0]) {
      case EIO_OPEN: {
        const open = JSON.parse(frame.slice(1));
        this.pingWindow = (open.pingInterval || 25000) + (open.pingTimeout || 20000);
        this.armPing();
        // After a drop: ask for the old session back, as socket.io-client does.
        const auth = this.pid ? { pid: this.pid, offset: this.lastOffset, ...this.auth } : this.auth;
        this.ws.send(EIO_MESSAGE + encodePacket(SIO_CONNECT, this.nsp, null, auth));
        break;
      }
      case EIO_PING:
        this.armPing();
        this.ws.send(EIO_PONG);
        break;
      case EIO_MESSAGE:
        this.onPacket(frame.slice(1));
        break;
      case EIO_CLOSE:
        this.ws.close();
        break;
      default:
        break;
    }
  }

  onPacket(text) {
    let p;
    try {
      p = decodePacket(text);
    } catch (err) {
      console.warn("dropping a malformed packet", err);
      return;
    }
    if (p.nsp !== this.nsp) return;
    switch (p.type) {
      case SIO_CONNECT: {
        this.connected = true;
        this.id = p.data && p.data.sid;
        const pid = (p.data && p.data.pid) || null;
        // Same session id back: the server restored the socket (id, rooms)
        // and sends the missed events right after this reply.
        const recovered = Boolean(pid) && pid === this.pid;
        if (!recovered) this.lastOffset = undefined;
        this.pid = pid;
        const reconnected = this.attempts > 0;
        this.attempts = 0;
        const pending = this.buffer;
        this.buffer = [];
        for (const frame of pending) this.ws.send(frame);
        this.fire("connect", { recovered, reconnected });
        break;
      }
      case SIO_CONNECT_ERROR:
        this.stopped = true;
        this.ws.close();
        this.fire("connect_error", p.data || { message: "connect error" });
        break;
      case SIO_DISCONNECT:
        this.stopped = true;
        this.ws.close();
        this.lost("io server disconnect");
        break;
      case SIO_EVENT: {
        if (!Array.isArray(p.data) || typeof p.data[0] !== "string") return;
        const [event, ...args] = p.data;
        if (this.pid && typeof args[args.length - 1] === "string") this.lastOffset = args[args.length - 1];
        if (p.id !== null) {
          const id = p.id;
          let answered = false;
          args.push((...reply) => {
            if (answered || !this.connected) return;
            answered = true;
            this.ws.send(EIO_MESSAGE + encodePacket(SIO_ACK, this.nsp, id, reply));
          });
        }
        this.fire(event, ...args);
        break;
      }
      case SIO_ACK: {
        const cb = this.acks.get(p.id);
        if (cb) {
          this.acks.delete(p.id);
          cb(...(Array.isArray(p.data) ? p.data : []));
        }
        break;
      }
      default:
        break;
    }
  }

  armPing() {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => {
      // The server stopped pinging: treat the link as dead.
      if (this.ws) this.ws.close();
    }, this.pingWindow);
  }

  lost(reason) {
    clearTimeout(this.pingTimer);
    const was = this.connected;
    this.connected = false;
    this.acks.clear();
    if (was) this.fire("disconnect", reason);
  }

  retry() {
    if (this.stopped || !this.reconnection) return;
    this.attempts += 1;
    const base = Math.min(this.delayMax, this.delayMin * 2 ** (this.attempts - 1));
    const delay = Math.round(base * (0.5 + Math.random() * 0.5));
    this.fire("reconnect_attempt", { attempt: this.attempts, delay });
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.open();
    }, delay);
  }
}

function defaultUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}
