//! The Redis adapter against a real redis-server (`scripts/test-redis.sh`
//! starts one and sets `ROOMCAST_REDIS_URL`). Each test uses its own
//! channel prefix, so they run in parallel on one server as separate
//! clusters.
#![cfg(feature = "redis-tests")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use roomcast::{ClusterError, Config, Connection, Engine, Handshake, Outbox, Payload, Socket};
use roomcast_redis::{RedisAdapter, RedisConfig};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn url() -> String {
    std::env::var("ROOMCAST_REDIS_URL").expect("ROOMCAST_REDIS_URL is set by scripts/test-redis.sh")
}

fn prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("rc-test-{}-{}-{}", test, std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn config(url: &str, prefix: &str) -> RedisConfig {
    RedisConfig::new(url)
        .prefix(prefix)
        .heartbeat(Duration::from_millis(100), Duration::from_millis(500))
        .request_timeout(Duration::from_secs(1))
        .max_backoff(Duration::from_millis(200))
}

struct Node {
    engine: Engine,
    adapter: Arc<RedisAdapter>,
}

fn node(url: &str, prefix: &str) -> Node {
    let adapter = RedisAdapter::new(config(url, prefix)).expect("adapter");
    // Outboxes big enough that the stress test never laps them.
    let cfg = Config::builder().max_queue(50_000).max_queue_bytes(16 << 20).build().expect("config");
    let engine = Engine::with_adapter(cfg, adapter.clone());
    assert!(adapter.wait_connected(Duration::from_secs(10)), "redis unreachable at {url}");
    Node { engine, adapter }
}

fn cluster(n: usize, test: &str) -> Vec<Node> {
    let (url, p) = (url(), prefix(test));
    let nodes: Vec<Node> = (0..n).map(|_| node(&url, &p)).collect();
    for nd in &nodes {
        assert!(nd.adapter.wait_for_nodes(n, Duration::from_secs(5)), "nodes did not see each other");
    }
    nodes
}

struct Client {
    _conn: Connection,
    outbox: Outbox,
    socket: Socket,
}

fn client(node: &Node, rooms: &[&str]) -> Client {
    let (conn, outbox) = node.engine.connect();
    let socket = conn.join_namespace("/", Handshake::new()).unwrap();
    for r in rooms {
        socket.join(*r).unwrap();
    }
    Client { _conn: conn, outbox, socket }
}

/// Every message the client gets within `wait` (stops at the first gap).
fn drain(c: &Client, wait: Duration) -> Vec<String> {
    let mut v = Vec::new();
    while let Ok(m) = c.outbox.recv_timeout(wait) {
        v.push(format!("{}:{}", m.event_name().unwrap_or("-"), m.payload().and_then(|p| p.as_str()).unwrap_or("")));
    }
    v
}

const SHORT: Duration = Duration::from_millis(300);

/// Waits (up to 5 s each) for exactly these messages, then checks that
/// nothing else is queued.
fn expect(c: &Client, want: &[&str]) {
    let mut got = Vec::new();
    while got.len() < want.len() {
        match c.outbox.recv_timeout(Duration::from_secs(5)) {
            Ok(m) => got.push(format!(
                "{}:{}",
                m.event_name().unwrap_or("-"),
                m.payload().and_then(|p| p.as_str()).unwrap_or("")
            )),
            Err(_) => break,
        }
    }
    got.extend(drain(c, Duration::from_millis(50)));
    assert_eq!(got, want, "socket {}", c.socket.id());
}

/// Checks that nothing arrives for a while.
fn quiet(c: &Client) {
    assert!(c.outbox.recv_timeout(SHORT).is_err(), "socket {} got a message", c.socket.id());
}

#[test]
fn cross_node_room_broadcast_with_except_and_sender_exclusion() -> TestResult {
    let nodes = cluster(3, "bcast");
    let a = client(&nodes[0], &["r"]);
    let b = client(&nodes[1], &["r"]);
    let c = client(&nodes[2], &["r", "muted"]);
    let d = client(&nodes[2], &[]);
    let ns0 = nodes[0].engine.of("/")?;

    ns0.to("r").except("muted").emit("m1", "x")?;
    expect(&a, &["m1:x"]);
    expect(&b, &["m1:x"]);
    quiet(&c);
    quiet(&d);

    // socket.to(room): everyone in the room on every node but the sender.
    b.socket.to("r").emit("m2", "y")?;
    expect(&a, &["m2:y"]);
    expect(&c, &["m2:y"]);
    quiet(&b);

    // socket.broadcast(): the whole namespace but the sender; to(id) reaches one socket anywhere.
    c.socket.broadcast().emit("m3", "z")?;
    ns0.to(d.socket.id()).emit("dm", "psst")?;
    expect(&a, &["m3:z"]);
    expect(&b, &["m3:z"]);
    expect(&d, &["m3:z", "dm:psst"]);
    quiet(&c);

    // Another namespace is another channel: nothing leaks into "/".
    nodes[1].engine.of("/other")?;
    nodes[0].engine.of("/other")?.emit("elsewhere", "q")?;
    quiet(&b);
    let st = nodes[1].adapter.stats();
    assert!(st.received >= 2 && st.decode_errors == 0 && st.dropped == 0, "{st:?}");
    Ok(())
}

#[test]
fn an_emit_reaches_each_socket_once_across_rooms_cluster_wide() -> TestResult {
    let nodes = cluster(3, "dedupe");
    let clients: Vec<Client> = (0..9).map(|i| client(&nodes[i % 3], &["a", "b", "c"][..=(i % 3)])).collect();
    nodes[1].engine.of("/")?.to(["a", "b", "c"]).emit("once", "1")?;
    for c in &clients {
        expect(c, &["once:1"]);
    }
    Ok(())
}

#[test]
fn fetch_sockets_merges_and_sockets_join_leave_disconnect_act_everywhere() -> TestResult {
    let nodes = cluster(3, "ops");
    let clients: Vec<Client> = nodes.iter().map(|n| client(n, &["r"])).collect();
    for (i, c) in clients.iter().enumerate() {
        c.socket.set_data(format!("data{i}"));
    }
    let _outside = client(&nodes[1], &[]);
    let ns = nodes[0].engine.of("/")?;

    let all = ns.to("r").cluster_fetch_sockets()?;
    assert!(all.is_complete());
    assert_eq!(all.value.len(), 3);
    for (i, c) in clients.iter().enumerate() {
        let s = all.value.iter().find(|s| s.id == c.socket.id()).expect("socket listed");
        assert_eq!(s.node, nodes[i].adapter.node());
        assert_eq!(s.rooms, [c.socket.id(), "r"]);
        assert_eq!(s.data.as_ref().and_then(|d| d.as_str()), Some(format!("data{i}").as_str()));
    }
    assert_eq!(ns.cluster_fetch_sockets_all()?, 4);
    assert_eq!(ns.local().to("r").cluster_fetch_sockets()?.value.len(), 1);

    assert_eq!(ns.to("r").cluster_sockets_join("vip")?.value, 3);
    assert!(clients.iter().all(|c| c.socket.in_room("vip")));
    let r = ns.to("vip").except(clients[2].socket.id()).cluster_sockets_leave("vip")?;
    assert_eq!((r.value, r.missing_nodes), (2, 0));
    assert!(!clients[1].socket.in_room("vip") && clients[2].socket.in_room("vip"));

    assert_eq!(ns.to("vip").cluster_disconnect_sockets()?.value, 1);
    assert!(!clients[2].socket.is_connected());
    assert!(clients[0].socket.is_connected() && clients[1].socket.is_connected());
    Ok(())
}

/// `cluster_fetch_sockets` on the whole namespace, counted.
trait CountAll {
    fn cluster_fetch_sockets_all(&self) -> Result<usize, ClusterError>;
}
impl CountAll for roomcast::Namespace {
    fn cluster_fetch_sockets_all(&self) -> Result<usize, ClusterError> {
        Ok(self.to(Vec::<String>::new()).cluster_fetch_sockets()?.value.len())
    }
}

#[test]
fn server_side_emit_runs_the_other_nodes_handlers_with_acks() -> TestResult {
    let nodes = cluster(3, "sse");
    let hits = Arc::new(AtomicU64::new(0));
    for (i, n) in nodes.iter().enumerate() {
        let h = hits.clone();
        n.engine.of("/")?.on_server_side("hello", move |p| {
            h.fetch_add(1, Ordering::SeqCst);
            Some(Payload::text(format!("{} from {i}", p.as_str().unwrap_or("?"))))
        });
    }
    let ns = nodes[0].engine.of("/")?;
    let r = ns.server_side_emit_with_ack("hello", "hi", Duration::from_secs(2))?;
    let mut got: Vec<String> = r.value.iter().map(|p| p.as_str().unwrap().to_string()).collect();
    got.sort();
    assert_eq!(got, ["hi from 1", "hi from 2"]);
    assert_eq!(r.missing_nodes, 0);
    assert_eq!(hits.load(Ordering::SeqCst), 2, "the emitting node's own handler must not run");

    // Without ack: fire and forget.
    ns.server_side_emit("hello", "again")?;
    let end = Instant::now() + Duration::from_secs(2);
    while hits.load(Ordering::SeqCst) < 4 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    Ok(())
}

#[test]
fn broadcast_acks_count_recipients_on_every_node() -> TestResult {
    let nodes = cluster(3, "acks");
    let clients: Vec<Client> = (0..6).map(|i| client(&nodes[i % 3], &["r"])).collect();
    let silent = client(&nodes[2], &["r"]);
    // Every client but `silent` answers its ack on its own thread.
    let answering: Vec<_> = clients
        .into_iter()
        .map(|c| {
            std::thread::spawn(move || {
                if let Ok(m) = c.outbox.recv_timeout(Duration::from_secs(3)) {
                    let id = m.ack_id().expect("ack id");
                    c.socket.receive_ack(id, Payload::text(c.socket.id())).unwrap();
                }
                c
            })
        })
        .collect();
    let ns = nodes[0].engine.of("/")?;
    let acks = ns.to("r").timeout(Duration::from_millis(800)).emit_with_cluster_ack("q", "?")?;
    assert_eq!(acks.local().expected(), 2);
    let replies = acks.wait();
    assert_eq!(replies.missing_nodes, 0);
    assert_eq!(replies.value.len(), 7, "every recipient on every node is counted");
    let ok: Vec<_> = replies.value.iter().filter(|r| r.result.is_ok()).collect();
    assert_eq!(ok.len(), 6);
    assert!(ok.iter().all(|r| r.result.as_ref().unwrap().as_str() == Some(r.socket_id.as_str())));
    let timed_out: Vec<_> = replies.value.iter().filter(|r| r.result.is_err()).collect();
    assert_eq!(timed_out.len(), 1);
    assert_eq!(timed_out[0].socket_id, silent.socket.id());
    assert_eq!(timed_out[0].result, Err(roomcast::AckError::Timeout));
    for t in answering {
        t.join().unwrap();
    }
    Ok(())
}

#[test]
fn local_skips_publishing() -> TestResult {
    let nodes = cluster(2, "local");
    let a = client(&nodes[0], &["r"]);
    let b = client(&nodes[1], &["r"]);
    std::thread::sleep(Duration::from_millis(150));
    let ns = nodes[0].engine.of("/")?;
    let before = nodes[1].adapter.stats().received;
    assert_eq!(ns.local().to("r").emit("here", "only")?.queued, 1);
    assert_eq!(ns.to("r").local().emit("here", "again")?.queued, 1);
    expect(&a, &["here:only", "here:again"]);
    quiet(&b);
    // Only heartbeats arrived meanwhile.
    let st = nodes[1].adapter.stats();
    assert!(st.received - before <= 10, "{st:?}");
    Ok(())
}

#[test]
fn many_threads_emitting_on_every_node_lose_nothing_on_a_healthy_bus() -> TestResult {
    const PER_THREAD: usize = 2_000;
    let nodes = Arc::new(cluster(3, "stress"));
    let clients: Vec<Client> = (0..6).map(|i| client(&nodes[i % 3], &["r"])).collect();
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let nodes = nodes.clone();
            std::thread::spawn(move || {
                let ns = nodes[t % 3].engine.of("/").unwrap();
                for i in 0..PER_THREAD {
                    ns.to("r").emit("n", format!("{t}:{i}")).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for c in &clients {
        let mut per_sender = [0usize; 6];
        let mut last = [None::<usize>; 6];
        let got = drain(c, Duration::from_secs(2));
        for m in &got {
            let body = m.strip_prefix("n:").unwrap();
            let (t, i) = body.split_once(':').unwrap();
            let (t, i): (usize, usize) = (t.parse()?, i.parse()?);
            per_sender[t] += 1;
            // One emitting thread's messages arrive in order on every node.
            assert!(last[t].is_none_or(|l| l < i), "out of order from thread {t}");
            last[t] = Some(i);
        }
        assert_eq!(per_sender, [PER_THREAD; 6]);
    }
    for n in nodes.iter() {
        let st = n.adapter.stats();
        assert_eq!((st.dropped, st.decode_errors), (0, 0), "{st:?}");
    }
    Ok(())
}

#[test]
fn garbage_on_the_channels_is_counted_and_ignored() -> TestResult {
    let (url, p) = (url(), prefix("garbage"));
    let n = node(&url, &p);
    let c = client(&n, &["r"]);
    let redis = redis::Client::open(url.as_str())?;
    let mut conn = redis.get_connection()?;
    let junk: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        Vec::new(),
        b"RC".to_vec(),
        b"RC\x01".to_vec(),
        b"RC\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
        b"RC\x63whatever".to_vec(),
        (0..=255u8).collect(),
    ];
    for j in &junk {
        for ch in [format!("{p}#/#"), format!("{p}-req#"), format!("{p}-res#{}#", n.adapter.node())] {
            let _: i64 = redis::cmd("PUBLISH").arg(&ch).arg(j.as_slice()).query(&mut conn)?;
        }
    }
    // Truncations of a real message published by a second node.
    let spy = node(&url, &p);
    let full = {
        // Capture a genuine envelope with a raw subscriber.
        let mut sub_conn = redis.get_connection()?;
        let mut ps = sub_conn.as_pubsub();
        ps.subscribe(format!("{p}#/#"))?;
        ps.set_read_timeout(Some(Duration::from_secs(3)))?;
        spy.engine.of("/")?.to("r").emit("real", "payload")?;
        let msg = ps.get_message()?;
        msg.get_payload_bytes().to_vec()
    };
    for cut in 1..full.len() {
        let _: i64 = redis::cmd("PUBLISH").arg(format!("{p}#/#")).arg(&full[..cut]).query(&mut conn)?;
    }
    // The real message arrived once; the garbage did nothing but count.
    expect(&c, &["real:payload"]);
    let end = Instant::now() + Duration::from_secs(3);
    let expected = (junk.len() * 3 + full.len() - 1) as u64;
    while n.adapter.stats().decode_errors < expected && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    let st = n.adapter.stats();
    assert_eq!(st.decode_errors, expected, "{st:?}");
    // Still working.
    spy.engine.of("/")?.to("r").emit("after", "ok")?;
    expect(&c, &["after:ok"]);
    Ok(())
}

struct ChildNode {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl ChildNode {
    fn spawn(url: &str, prefix: &str) -> ChildNode {
        let mut child = Command::new(env!("CARGO_BIN_EXE_roomcast-redis-node"))
            .args([url, prefix, "100"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn roomcast-redis-node");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildNode { child, lines: rx }
    }
    fn line(&self) -> String {
        self.lines.recv_timeout(Duration::from_secs(10)).expect("a line from the child node")
    }
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_node_in_another_process_takes_part_and_its_death_is_noticed() -> TestResult {
    let (url, p) = (url(), prefix("proc"));
    let mut children: Vec<ChildNode> = (0..2).map(|_| ChildNode::spawn(&url, &p)).collect();
    let ready: Vec<String> = children.iter().map(|c| c.line()).collect();
    let here = node(&url, &p);
    assert!(here.adapter.wait_for_nodes(3, Duration::from_secs(5)), "server_count {}", here.engine.server_count());
    let ns = here.engine.of("/")?;

    // fetch_sockets sees the children's sockets with their node ids and data.
    let all = ns.to("r").cluster_fetch_sockets()?;
    assert_eq!(all.value.len(), 2);
    for line in &ready {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts[0], "ready");
        let s = all.value.iter().find(|s| s.id == parts[2]).expect("child socket listed");
        assert_eq!(s.node, parts[1]);
        assert_eq!(s.data.as_ref().and_then(|d| d.as_str()), Some("child"));
    }
    // An emit here reaches the sockets there.
    ns.to("r").emit("hello", "child")?;
    for c in &children {
        assert_eq!(c.line(), "got hello child");
    }
    // Server-side emit with ack: one pong per process.
    let pongs = ns.server_side_emit_with_ack("ping", "", Duration::from_secs(2))?;
    assert_eq!(pongs.value.len(), 2);
    assert!(pongs.value.iter().all(|p| p.as_str().unwrap().starts_with("pong ")));

    // SIGKILL one child: no goodbye, only silence. Noticed within the
    // heartbeat timeout (500 ms) plus one beat.
    let dead = children.remove(0);
    drop(dead);
    let killed = Instant::now();
    while here.engine.server_count() != 2 {
        assert!(killed.elapsed() < Duration::from_millis(1500), "death not noticed");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Requests now wait only for the living.
    let r = ns.to("r").cluster_fetch_sockets()?;
    assert_eq!((r.value.len(), r.missing_nodes), (1, 0));
    Ok(())
}

/// A redis-server of its own, so stopping it disturbs no other test.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut r = OwnRedis { port, child: None };
        r.restart();
        r
    }
    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test-redis.sh installs it)");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < end, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn an_outage_keeps_local_delivery_reports_errors_and_the_cluster_resumes() -> TestResult {
    let mut redis = OwnRedis::start();
    let p = prefix("outage");
    let nodes: Vec<Node> = (0..3).map(|_| node(&redis.url(), &p)).collect();
    for n in &nodes {
        assert!(n.adapter.wait_for_nodes(3, Duration::from_secs(5)));
    }
    let a = client(&nodes[0], &["r"]);
    let b = client(&nodes[1], &["r"]);
    let ns = nodes[0].engine.of("/")?;

    // A stream of emits; Redis dies in the middle of it.
    for i in 0..200 {
        if i == 100 {
            redis.stop();
        }
        let report = ns.to("r").emit("s", format!("{i}"))?;
        assert_eq!(report.queued, 1, "local delivery never stops");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(drain(&a, Duration::from_millis(50)).len(), 200);
    let got_b = drain(&b, SHORT);
    assert!(got_b.len() >= 50 && got_b.len() < 200, "b got {} (at most once across nodes)", got_b.len());

    // Cluster operations fail clearly, naming the nodes they could not reach.
    let end = Instant::now() + Duration::from_secs(3);
    while nodes[0].adapter.stats().connected {
        assert!(Instant::now() < end, "the adapter did not notice the outage");
        std::thread::sleep(Duration::from_millis(10));
    }
    match ns.to("r").cluster_fetch_sockets() {
        Err(ClusterError::Unavailable { missing_nodes, .. }) => assert_eq!(missing_nodes, 2),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(matches!(ns.server_side_emit("x", "y"), Err(ClusterError::Unavailable { missing_nodes: 2, .. })));
    let partial = ns.to("r").timeout(Duration::from_millis(100)).emit_with_cluster_ack("q", "")?;
    let partial = partial.wait();
    assert_eq!((partial.value.len(), partial.missing_nodes), (1, 2));
    let st = nodes[0].adapter.stats();
    assert!(st.dropped > 0, "losses are counted: {st:?}");

    // Same port, no node restarted: the cluster resumes by itself.
    redis.restart();
    for n in &nodes {
        assert!(n.adapter.wait_connected(Duration::from_secs(10)), "no reconnect");
        assert!(n.adapter.wait_for_nodes(3, Duration::from_secs(5)));
        assert!(n.adapter.stats().reconnects >= 1);
    }
    let _ = drain(&a, Duration::from_millis(10));
    ns.to("r").emit("back", "again")?;
    expect(&b, &["back:again"]);
    assert_eq!(ns.to("r").cluster_fetch_sockets()?.value.len(), 2);
    Ok(())
}

#[test]
fn dropping_an_adapter_says_goodbye() -> TestResult {
    let (url, p) = (url(), prefix("bye"));
    // A long heartbeat timeout: only the goodbye can tell the node left.
    let slow = |p: &str| {
        let adapter = RedisAdapter::new(config(&url, p).heartbeat(Duration::from_millis(100), Duration::from_secs(30)))
            .expect("adapter");
        assert!(adapter.wait_connected(Duration::from_secs(10)));
        (Engine::with_adapter(Config::default(), adapter.clone()), adapter)
    };
    let (a_engine, a) = slow(&p);
    let (b_engine, b) = slow(&p);
    assert!(a.wait_for_nodes(2, Duration::from_secs(5)));
    drop(b_engine);
    drop(b);
    let start = Instant::now();
    while a_engine.server_count() != 1 {
        assert!(start.elapsed() < Duration::from_secs(5), "goodbye not seen");
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Connection state recovery in a cluster: the node that kept the socket
/// resumes it with what it missed, events emitted on the other node
/// included (each node logs what it delivers); a reconnect that lands on
/// the other node gets a fresh socket, `recovered` false, cleanly.
#[test]
fn recovery_works_on_the_node_that_kept_the_socket_and_starts_fresh_on_another() -> TestResult {
    let nodes = cluster(2, "recovery");
    for n in &nodes {
        n.engine.of("/")?.set_recovery(Some(roomcast::RecoveryConfig::new()))?;
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    let kept = client(a, &["room"]);
    let id = kept.socket.id().to_string();
    let pid = kept.socket.session_id().expect("recovery on").to_string();
    let sender = client(b, &["room"]);
    sender.socket.to("room").emit("m", "seen")?;
    let seen = kept.outbox.recv_timeout(Duration::from_secs(5))?.offset();
    assert!(seen.is_some(), "remote emits are numbered by the receiving node");
    kept._conn.close(roomcast::DisconnectReason::TransportClose);
    sender.socket.to("room").emit("m", "missed from b")?;
    // The log on a gets b's emit through Redis (a keeps events in the order
    // it delivers them): wait until it is there, then emit on a.
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.engine.of("/")?.recovery_stats().expect("on").kept_events < 2 {
        assert!(Instant::now() < deadline, "b's emit never reached a");
        std::thread::sleep(Duration::from_millis(10));
    }
    a.engine.of("/")?.to("room").emit("m", "missed from a")?;

    // Landing on b: b never kept it.
    let (conn_b, outbox_b) = b.engine.connect();
    let fresh = conn_b.resume_namespace("/", Handshake::new(), &pid, seen)?;
    assert!(!fresh.recovered());
    assert_ne!(fresh.id(), id);
    assert!(outbox_b.try_recv().is_err(), "nothing replayed on another node");

    // Back on a, the node that kept it: everything it missed, in order.
    let (conn_a, outbox_a) = a.engine.connect();
    let back = conn_a.resume_namespace("/", Handshake::new(), &pid, seen)?;
    assert!(back.recovered());
    assert_eq!(back.id(), id);
    let c = Client { _conn: conn_a, outbox: outbox_a, socket: back };
    assert_eq!(drain(&c, Duration::from_millis(200)), ["m:missed from b", "m:missed from a"]);
    drop((conn_b, outbox_b));
    Ok(())
}
