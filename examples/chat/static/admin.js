// The admin page: the /admin namespace, entered with a token (checked by the
// server's middleware). Shows rooms and connected users live and can
// disconnect a user. Events: ../PROTOCOL.md.
import { SioSocket } from "/sio.js";

const $ = (id) => document.getElementById(id);
let socket = null;
let poll = null;

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  open($("token").value);
});

function open(token) {
  $("login-error").textContent = "";
  socket = new SioSocket("/admin", { auth: { token } });
  window.admin = { socket };
  socket.on("connect", () => {
    $("login").hidden = true;
    $("panel").hidden = false;
    setStatus("online");
    refresh();
    clearInterval(poll);
    poll = setInterval(refresh, 1000);
  });
  socket.on("connect_error", (err) => {
    $("panel").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = err.message || "refused";
  });
  socket.on("disconnect", () => setStatus("offline"));
  socket.on("reconnect_attempt", () => setStatus("reconnecting"));
}

async function refresh() {
  if (!socket.connected) return;
  let snap;
  try {
    snap = await socket.emitWithAck("snapshot", {}, 3000);
  } catch {
    return;
  }
  const rooms = $("rooms");
  rooms.replaceChildren();
  for (const r of snap.rooms) {
    const tr = row([r.name, String(r.members)]);
    tr.dataset.room = r.name;
    rooms.append(tr);
  }
  $("room-count").textContent = String(snap.rooms.length);
  const sockets = $("sockets");
  sockets.replaceChildren();
  for (const s of snap.sockets) {
    const tr = row([s.name, s.room || "—", s.id]);
    tr.dataset.id = s.id;
    tr.dataset.name = s.name;
    tr.children[2].className = "id";
    const td = document.createElement("td");
    const kick = document.createElement("button");
    kick.className = "kick";
    kick.textContent = "disconnect";
    kick.addEventListener("click", async () => {
      kick.disabled = true;
      await socket.emitWithAck("kick", { id: s.id }, 3000).catch(() => null);
      refresh();
    });
    td.append(kick);
    tr.append(td);
    sockets.append(tr);
  }
  $("socket-count").textContent = String(snap.sockets.length);
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = c;
    tr.append(td);
  }
  return tr;
}

function setStatus(s) {
  $("status").dataset.state = s;
  $("status").textContent = s;
}

const fromQuery = new URLSearchParams(location.search).get("token");
if (fromQuery) open(fromQuery);
