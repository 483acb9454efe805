//! The adapter seam: an in-memory cluster of engines, each with a fake
//! cluster adapter that calls the other engines directly, pins down what
//! the engine asks of an adapter and how it merges the answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use roomcast::{
    AckReply, Adapter, ClusterError, ClusterReply, Config, EmitReport, Engine, Handshake, Message, Namespace, Payload,
    RemoteAcks, RemoteSocket, Selector, SocketsOp, Target, WeakEngine,
};

/// Every node's engine, by index.
#[derive(Default)]
struct Bus {
    nodes: Mutex<Vec<(String, WeakEngine)>>,
    down: Mutex<bool>,
}

struct Fake {
    id: String,
    bus: Arc<Bus>,
    published: Mutex<usize>,
}

impl Fake {
    fn others(&self) -> Result<Vec<(String, Engine)>, ClusterError> {
        if *self.bus.down.lock().unwrap() {
            let n = self.bus.nodes.lock().unwrap().len() - 1;
            return Err(ClusterError::Unavailable { reason: "down".into(), missing_nodes: n });
        }
        let nodes = self.bus.nodes.lock().unwrap().clone();
        Ok(nodes.into_iter().filter(|(id, _)| *id != self.id).filter_map(|(id, w)| Some((id, w.upgrade()?))).collect())
    }
}

impl Adapter for Fake {
    fn attach(&self, engine: WeakEngine) {
        self.bus.nodes.lock().unwrap().push((self.id.clone(), engine));
    }
    fn broadcast(&self, ns: &Namespace, target: &Target<'_>, msg: &Message) -> EmitReport {
        let report = ns.deliver_local(target, msg);
        *self.published.lock().unwrap() += 1;
        let sel = target.selector();
        assert_eq!(sel.volatile, target.is_volatile());
        for (_, e) in self.others().unwrap_or_default() {
            if let Some(remote) = e.namespace(ns.name()) {
                let m = Message::event(
                    Arc::from(ns.name()),
                    msg.event_name().unwrap(),
                    msg.payload().unwrap().clone(),
                    None,
                );
                sel.deliver_local(&remote, &m);
            }
        }
        report
    }
    fn broadcast_with_ack(
        &self,
        ns: &Namespace,
        t: &Target<'_>,
        ev: &str,
        p: &Payload,
        timeout: Duration,
    ) -> RemoteAcks {
        let sel = t.selector();
        let streams: Vec<_> = match self.others() {
            Ok(o) => o
                .into_iter()
                .filter_map(|(_, e)| e.namespace(ns.name()))
                .map(|r| sel.operator(&r).timeout(timeout).emit_with_ack(ev, p.clone()).unwrap())
                .collect(),
            Err(e) => return RemoteAcks::new(move || Err(e)),
        };
        RemoteAcks::new(move || {
            Ok(ClusterReply::complete(streams.into_iter().flat_map(|s| s.wait()).collect::<Vec<AckReply>>()))
        })
    }
    fn fetch_sockets(&self, ns: &Namespace, sel: &Selector) -> Result<ClusterReply<Vec<RemoteSocket>>, ClusterError> {
        let mut v = Vec::new();
        for (id, e) in self.others()? {
            if let Some(r) = e.namespace(ns.name()) {
                v.extend(sel.operator(&r).cluster_fetch_sockets()?.value.into_iter().map(|mut s| {
                    s.node = id.clone();
                    s
                }));
            }
        }
        Ok(ClusterReply::complete(v))
    }
    fn apply(&self, ns: &Namespace, sel: &Selector, op: &SocketsOp) -> Result<ClusterReply<usize>, ClusterError> {
        let mut n = 0;
        for (_, e) in self.others()? {
            if let Some(r) = e.namespace(ns.name()) {
                let o = sel.operator(&r);
                n += match op {
                    SocketsOp::Join(rooms) => o.sockets_join(rooms.clone())?,
                    SocketsOp::Leave(rooms) => o.sockets_leave(rooms.clone())?,
                    SocketsOp::Disconnect => o.disconnect_sockets()?,
                };
            }
        }
        Ok(ClusterReply::complete(n))
    }
    fn server_side_emit(
        &self,
        ns: &Namespace,
        ev: &str,
        p: &Payload,
        _ack: Option<Duration>,
    ) -> Result<ClusterReply<Vec<Payload>>, ClusterError> {
        let mut v = Vec::new();
        for (_, e) in self.others()? {
            if let Some(r) = e.namespace(ns.name()) {
                v.extend(r.run_server_side(ev, p));
            }
        }
        Ok(ClusterReply::complete(v))
    }
    fn server_count(&self) -> usize {
        self.bus.nodes.lock().unwrap().len()
    }
    fn node_id(&self) -> String {
        self.id.clone()
    }
}

fn cluster(n: usize) -> (Arc<Bus>, Vec<(Engine, Arc<Fake>)>) {
    let bus = Arc::new(Bus::default());
    let nodes = (0..n)
        .map(|i| {
            let a = Arc::new(Fake { id: format!("n{i}"), bus: bus.clone(), published: Mutex::new(0) });
            (Engine::with_adapter(Config::default(), a.clone()), a)
        })
        .collect();
    (bus, nodes)
}

#[test]
fn attach_is_called_and_server_count_comes_from_the_adapter() {
    let (_bus, nodes) = cluster(3);
    assert_eq!(nodes[0].0.server_count(), 3);
    assert_eq!(Engine::new(Config::default()).server_count(), 1);
}

#[test]
fn emits_reach_other_nodes_and_local_skips_the_adapter() -> Result<(), Box<dyn std::error::Error>> {
    let (_bus, nodes) = cluster(2);
    let mut outs = Vec::new();
    let mut socks = Vec::new();
    for (e, _) in &nodes {
        let (c, o) = e.connect();
        let s = c.join_namespace("/", Handshake::new())?;
        s.join("r")?;
        outs.push((c, o));
        socks.push(s);
    }
    // socket.to(room) excludes the sender on its node, reaches the other.
    socks[0].to("r").emit("hi", "x")?;
    assert!(outs[0].1.try_recv().is_err());
    assert_eq!(outs[1].1.try_recv()?.event_name(), Some("hi"));
    // local(): this node only, nothing published.
    let before = *nodes[0].1.published.lock().unwrap();
    let ns = nodes[0].0.of("/")?;
    assert_eq!(ns.local().to("r").emit("l", "y")?.queued, 1);
    assert_eq!(*nodes[0].1.published.lock().unwrap(), before);
    assert!(outs[1].1.try_recv().is_err());
    assert_eq!(outs[0].1.try_recv()?.event_name(), Some("l"));
    Ok(())
}

#[test]
fn cluster_operations_merge_every_node() -> Result<(), Box<dyn std::error::Error>> {
    let (bus, nodes) = cluster(3);
    let mut keep = Vec::new();
    for (i, (e, _)) in nodes.iter().enumerate() {
        let (c, o) = e.connect();
        let s = c.join_namespace("/", Handshake::new())?;
        s.join("r")?;
        s.set_data(format!("n{i}"));
        keep.push((c, o, s));
    }
    let ns = nodes[0].0.of("/")?;
    let all = ns.to("r").cluster_fetch_sockets()?;
    assert!(all.is_complete());
    let mut nodes_seen: Vec<_> = all.value.iter().map(|s| s.node.clone()).collect();
    nodes_seen.sort();
    assert_eq!(nodes_seen, ["n0", "n1", "n2"]);
    assert!(all.value.iter().all(|s| s.data.as_ref().unwrap().as_str() == Some(s.node.as_str())));
    assert_eq!(ns.local().to("r").cluster_fetch_sockets()?.value.len(), 1);

    assert_eq!(ns.to("r").cluster_sockets_join("x")?.value, 3);
    assert!(keep.iter().all(|(_, _, s)| s.in_room("x")));
    assert_eq!(ns.to("x").except(keep[1].2.id()).cluster_sockets_leave("x")?.value, 2);
    assert!(keep[1].2.in_room("x") && !keep[2].2.in_room("x"));

    // Acks from every node.
    for (_, o, s) in &keep {
        let _ = o.try_recv();
        let _ = s;
    }
    let acks = ns.to("r").timeout(Duration::from_millis(200)).emit_with_cluster_ack("q", "?")?;
    assert_eq!(acks.local().expected(), 1);
    for (_, o, s) in &keep {
        while let Ok(m) = o.try_recv() {
            if let Some(id) = m.ack_id() {
                s.receive_ack(id, Payload::text(s.id()))?;
            }
        }
    }
    let replies = acks.wait();
    assert_eq!(replies.value.len(), 3);
    assert!(replies.value.iter().all(|r| r.result.is_ok()));

    // Server-side emits reach the other nodes' handlers, never this one's.
    for (i, (e, _)) in nodes.iter().enumerate() {
        e.of("/")?.on_server_side("who", move |_| Some(Payload::text(format!("n{i}"))));
    }
    let r = ns.server_side_emit_with_ack("who", "", Duration::from_secs(1))?;
    let mut names: Vec<_> = r.value.iter().map(|p| p.as_str().unwrap().to_string()).collect();
    names.sort();
    assert_eq!(names, ["n1", "n2"]);

    // A bus outage: this node's part is done, the error counts the others.
    *bus.down.lock().unwrap() = true;
    match ns.to("r").cluster_disconnect_sockets() {
        Err(ClusterError::Unavailable { missing_nodes, .. }) => assert_eq!(missing_nodes, 2),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(!keep[0].2.is_connected());
    assert!(keep[1].2.is_connected());
    *bus.down.lock().unwrap() = false;
    assert_eq!(ns.to("r").cluster_disconnect_sockets()?.value, 2);
    assert!(keep.iter().all(|(_, _, s)| !s.is_connected()));
    Ok(())
}

#[test]
fn a_panicking_server_side_handler_is_reported_not_propagated() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/")?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    ns.on_error(move |f| s2.lock().unwrap().push(f.site.clone()));
    ns.on_server_side("boom", |_| panic!("no"));
    ns.on_server_side("boom", |p| Some(p.clone()));
    assert_eq!(ns.run_server_side("boom", &"ok".into()).len(), 1);
    assert_eq!(*seen.lock().unwrap(), [roomcast::HandlerSite::ServerSide("boom".into())]);
    // The local adapter has no other node.
    assert!(ns.server_side_emit("boom", "x")?.is_complete());
    Ok(())
}

#[test]
fn a_selector_is_the_owned_selection_and_travels_as_it_is() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/")?;
    let (conn_a, out_a) = engine.connect();
    let (conn_b, out_b) = engine.connect();
    let a = conn_a.join_namespace("/", Handshake::new())?;
    let b = conn_b.join_namespace("/", Handshake::new())?;
    a.join(["r", "s"])?;
    b.join("r")?;

    // What an operator publishes: rooms, except-rooms, volatile; not the sender.
    let (rooms, except) = (["r".into()], ["s".into()]);
    let target = Target::new(&rooms, &except, true);
    assert!(!target.excludes_sender());
    let sel = target.selector();
    assert_eq!(sel, Selector { rooms: vec!["r".into()], except: vec!["s".into()], volatile: true });

    // Serializable, and the same selection after the trip.
    let wire = serde_json::to_string(&sel)?;
    assert_eq!(wire, r#"{"rooms":["r"],"except":["s"],"volatile":true}"#);
    let back: Selector = serde_json::from_str(&wire)?;
    assert_eq!(back, sel);

    // Delivered here exactly as an operator with those rooms would: b only.
    let m = Message::event(Arc::from("/"), "e", Payload::text("x"), None);
    let report = back.deliver_local(&ns, &m);
    assert_eq!((report.recipients, report.queued), (1, 1));
    assert!(out_a.try_recv().is_err());
    assert_eq!(out_b.try_recv()?.event_name(), Some("e"));
    assert_eq!(back.operator(&ns).fetch_sockets()?.len(), 1);
    Ok(())
}
