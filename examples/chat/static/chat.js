// The chat page: nickname, rooms with member counts, messages to the room,
// join/leave notices, typing indicator, private messages, and a reconnect
// that puts the user back in the room they were in. Events: ../PROTOCOL.md.
import { SioSocket } from "/sio.js";

const $ = (id) => document.getElementById(id);
const state = {
  name: "",
  room: null,
  members: new Map(), // socket id -> name, for the current room
  dm: null, // { id, name } while writing a private message
  typers: new Map(), // socket id -> { name, timer }
  typingSent: false,
  typingTimer: null,
};
let socket = null;

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = $("nickname").value.trim();
  if (!name) return;
  sessionStorage.setItem("chat-name", name);
  start(name);
});

function start(name) {
  state.name = name;
  $("login-error").textContent = "";
  socket = new SioSocket("/", { auth: { name } });
  window.chat = { socket, state };

  socket.on("connect", ({ recovered, reconnected }) => {
    $("login").hidden = true;
    $("app").hidden = false;
    $("me").textContent = state.name;
    setStatus("online");
    if (recovered) {
      // The server kept this user's socket: same id, still in the room; the
      // messages sent meanwhile arrive right after this.
      notice("connection recovered: nothing was missed");
    } else {
      if (reconnected) notice("reconnected with a new session: messages sent meanwhile are not shown");
      if (state.room) join(state.room, true);
    }
    refreshRooms();
  });
  socket.on("connect_error", (err) => {
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = err.message || "cannot connect";
  });
  socket.on("disconnect", (reason) => {
    setStatus("offline");
    notice(reason === "io server disconnect" ? "disconnected by the server" : "connection lost, reconnecting…");
    if (reason === "io server disconnect") setInputs(false);
  });
  socket.on("reconnect_attempt", () => setStatus("reconnecting"));

  socket.on("message", (m) => {
    if (m.room === state.room) line(m.name, m.text, m.time, "");
  });
  socket.on("private message", (m) => line(`${m.name} → you`, m.text, m.time, "private", m.id));
  socket.on("user joined", (u) => {
    if (u.room !== state.room) return;
    state.members.set(u.id, u.name);
    renderMembers();
    notice(`${u.name} joined #${u.room}`);
    refreshRooms();
  });
  socket.on("user left", (u) => {
    if (u.room !== state.room) return;
    state.members.delete(u.id);
    setTyper(u.id, u.name, false);
    renderMembers();
    notice(`${u.name} left #${u.room}`);
    refreshRooms();
  });
  socket.on("typing", (t) => setTyper(t.id, t.name, t.typing));

  setInterval(() => socket.connected && refreshRooms(), 2000);
}

async function join(room, restoring = false) {
  let reply;
  try {
    reply = await socket.emitWithAck("join", { room });
  } catch (err) {
    notice(String(err.message || err));
    return;
  }
  if (reply.error) {
    notice(reply.error);
    return;
  }
  const switched = reply.room !== state.room;
  state.room = reply.room;
  state.members = new Map(reply.members.map((m) => [m.id, m.name]));
  clearTypers();
  $("room-title").textContent = `#${reply.room}`;
  renderMembers();
  setInputs(true);
  if (switched || restoring) notice(restoring ? `back in #${reply.room}` : `you joined #${reply.room}`);
  refreshRooms();
}

async function leave() {
  if (!state.room) return;
  const room = state.room;
  await socket.emitWithAck("leave", {});
  state.room = null;
  state.members.clear();
  clearTypers();
  $("room-title").textContent = "no room";
  renderMembers();
  setInputs(false);
  notice(`you left #${room}`);
  refreshRooms();
}

async function refreshRooms() {
  let rooms;
  try {
    rooms = await socket.emitWithAck("list rooms", {}, 3000);
  } catch {
    return;
  }
  const ul = $("rooms");
  ul.replaceChildren();
  for (const r of rooms) {
    const li = document.createElement("li");
    li.dataset.room = r.name;
    if (r.name === state.room) li.className = "current";
    const name = document.createElement("span");
    name.textContent = `#${r.name}`;
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = String(r.members);
    li.append(name, count);
    li.addEventListener("click", () => r.name !== state.room && join(r.name));
    ul.append(li);
  }
}

function renderMembers() {
  const ul = $("members");
  ul.replaceChildren();
  for (const [id, name] of state.members) {
    const li = document.createElement("li");
    li.dataset.id = id;
    li.textContent = name;
    if (id === socket.id) {
      li.className = "self";
      li.textContent = `${name} (you)`;
    } else {
      li.title = `private message to ${name}`;
      li.addEventListener("click", () => setDm({ id, name }));
    }
    ul.append(li);
  }
  $("leave").disabled = !state.room;
}

function setDm(target) {
  state.dm = target;
  $("dm-target").hidden = !target;
  $("dm-name").textContent = target ? target.name : "";
  setInputs(Boolean(state.room));
  $("text").focus();
}

function setInputs(on) {
  const enabled = on || Boolean(state.dm);
  $("text").disabled = !enabled;
  $("send").disabled = !enabled;
  $("text").placeholder = enabled ? (state.dm ? `private message to ${state.dm.name}` : `message #${state.room}`) : "Join a room to talk";
}

function setStatus(s) {
  $("status").dataset.state = s;
  $("status").textContent = s;
}

function line(name, text, time, cls, id) {
  const li = document.createElement("li");
  if (cls) li.className = cls;
  const who = document.createElement("span");
  who.className = "name";
  who.textContent = name;
  const when = document.createElement("time");
  const t = new Date(time || Date.now());
  when.dateTime = t.toISOString();
  when.textContent = t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  li.append(who, when, body);
  if (id && cls === "private") {
    li.title = "click to answer privately";
    li.addEventListener("click", () => setDm({ id, name: name.replace(/ → you$/, "") }));
  }
  append(li);
}

function notice(text) {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = text;
  append(li);
}

function append(li) {
  const ul = $("messages");
  const atBottom = ul.scrollTop + ul.clientHeight >= ul.scrollHeight - 30;
  ul.append(li);
  if (atBottom) ul.scrollTop = ul.scrollHeight;
}

function setTyper(id, name, typing) {
  const old = state.typers.get(id);
  if (old) clearTimeout(old.timer);
  if (typing) {
    // A lost "stopped typing" must not leave the line up forever.
    state.typers.set(id, { name, timer: setTimeout(() => setTyper(id, name, false), 5000) });
  } else {
    state.typers.delete(id);
  }
  const names = [...state.typers.values()].map((t) => t.name);
  $("typing").textContent =
    names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
}

function clearTypers() {
  for (const id of [...state.typers.keys()]) setTyper(id, "", false);
}

$("join-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const room = $("room-name").value.trim();
  if (!room) return;
  $("room-name").value = "";
  join(room);
});

$("leave").addEventListener("click", leave);
$("dm-cancel").addEventListener("click", () => setDm(null));

$("text").addEventListener("input", () => {
  if (state.dm || !state.room) return;
  if (!state.typingSent) {
    state.typingSent = true;
    socket.emit("typing", { typing: true });
  }
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(stopTyping, 1500);
});

function stopTyping() {
  clearTimeout(state.typingTimer);
  if (state.typingSent) {
    state.typingSent = false;
    socket.emit("typing", { typing: false });
  }
}

$("send-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  $("text").value = "";
  if (state.dm) {
    const to = state.dm;
    socket.emit("private message", { to: to.id, text }, (reply) => {
      if (!reply || !reply.ok) notice(`${to.name} is not connected`);
    });
    line(`you → ${to.name}`, text, Date.now(), "private mine");
    return;
  }
  stopTyping();
  socket.emit("message", { text });
  line(state.name, text, Date.now(), "mine");
});

const saved = sessionStorage.getItem("chat-name");
if (saved) $("nickname").value = saved;
