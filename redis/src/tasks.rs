//! The adapter's async side: one publisher, one subscriber and a
//! heartbeat, all on the adapter's own single-threaded runtime.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use redis::AsyncConnectionConfig;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, timeout};

use crate::envelope::{self, Body, DecodeError};
use crate::{bump, Inner, Outgoing};

/// Most messages sent in one pipelined batch.
const BATCH: usize = 512;
/// First reconnect delay; doubled per failure up to `max_backoff`.
const MIN_BACKOFF: Duration = Duration::from_millis(20);
/// How long one connect attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Runs until `stop` fires (or its sender is dropped), then says goodbye
/// (best effort) and returns.
pub(crate) async fn run(
    inner: Arc<Inner>,
    client: redis::Client,
    rx: mpsc::Receiver<Outgoing>,
    stop: oneshot::Receiver<()>,
) {
    let publisher = tokio::spawn(publisher(inner.clone(), client.clone(), rx));
    let subscriber = tokio::spawn(subscriber(inner.clone(), client));
    let heart = tokio::spawn(heartbeat(inner.clone()));
    let _ = stop.await;
    heart.abort();
    subscriber.abort();
    inner.sub_up.store(false, Ordering::Relaxed);
    if inner.pub_up.load(Ordering::Relaxed) {
        inner.publish(inner.req_channel.clone(), "", Body::Bye);
        let (tx, rx) = oneshot::channel();
        if inner.tx.try_send(Outgoing::Flush(tx)).is_ok() {
            let _ = timeout(Duration::from_millis(500), rx).await;
        }
    }
    publisher.abort();
    inner.pub_up.store(false, Ordering::Relaxed);
}

fn conn_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(Duration::from_secs(1)))
}

/// Sends what is queued, in pipelined batches. While Redis is unreachable
/// it drops (and counts) what arrives, and tries to reconnect when the
/// backoff allows — never holding messages back, so the queue stays short.
async fn publisher(inner: Arc<Inner>, client: redis::Client, mut rx: mpsc::Receiver<Outgoing>) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut backoff = MIN_BACKOFF;
    let mut next_try = Instant::now();
    let mut ever_connected = false;
    let mut buf = Vec::with_capacity(BATCH);
    loop {
        buf.clear();
        if rx.recv_many(&mut buf, BATCH).await == 0 {
            return;
        }
        if conn.is_none() && Instant::now() >= next_try {
            match timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection_with_config(&conn_config())).await {
                Ok(Ok(c)) => {
                    conn = Some(c);
                    if ever_connected {
                        bump(&inner.stats.reconnects, 1);
                    }
                    ever_connected = true;
                    backoff = MIN_BACKOFF;
                    inner.pub_up.store(true, Ordering::Relaxed);
                }
                Ok(Err(e)) => inner.set_error(e),
                Err(_) => inner.set_error("connect timed out"),
            }
            if conn.is_none() {
                next_try = Instant::now() + backoff;
                backoff = (backoff * 2).min(inner.cfg.max_backoff);
            }
        }
        let mut pipe = redis::pipe();
        let mut n = 0u64;
        let mut flushes = Vec::new();
        // Consecutive messages to one channel travel as one batch frame (one
        // PUBLISH, one delivery per subscriber), in order; a lone message
        // goes as it is.
        let mut group = Group::default();
        for item in buf.drain(..) {
            match item {
                Outgoing::Publish { channel, bytes } => {
                    n += 1;
                    if let Err(bytes) = group.add(inner.node, &channel, bytes) {
                        group.flush_into(&mut pipe);
                        // An empty group takes any message.
                        let _ = group.add(inner.node, &channel, bytes);
                    }
                }
                Outgoing::Flush(tx) => flushes.push(tx),
            }
        }
        group.flush_into(&mut pipe);
        if n > 0 {
            match conn.as_mut() {
                Some(c) => match pipe.query_async::<()>(c).await {
                    Ok(()) => bump(&inner.stats.published, n),
                    Err(e) => {
                        bump(&inner.stats.dropped, n);
                        inner.set_error(e);
                        conn = None;
                        inner.pub_up.store(false, Ordering::Relaxed);
                        next_try = Instant::now();
                    }
                },
                None => bump(&inner.stats.dropped, n),
            }
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

/// Largest batch frame built by the publisher (a lone larger message is
/// sent on its own).
const MAX_FRAME: usize = 64 * 1024;

/// Messages of one channel waiting to be published together.
#[derive(Default)]
struct Group {
    channel: Option<Arc<str>>,
    /// The first message, kept as is while it is alone.
    first: Vec<u8>,
    /// The batch frame, once a second message joined.
    frame: Vec<u8>,
}

impl Group {
    /// Adds `bytes` for `channel`; gives them back when they belong to a
    /// new group (another channel, or the frame is full): the caller
    /// flushes this one and adds them again.
    fn add(&mut self, node: u64, channel: &Arc<str>, bytes: Vec<u8>) -> Result<(), Vec<u8>> {
        match &self.channel {
            None => {
                self.channel = Some(channel.clone());
                self.first = bytes;
                Ok(())
            }
            Some(c) if c == channel => {
                let size = if self.frame.is_empty() { 3 + 10 + 4 + self.first.len() } else { self.frame.len() };
                if size + 4 + bytes.len() > MAX_FRAME {
                    return Err(bytes);
                }
                if self.frame.is_empty() {
                    envelope::batch_start(&mut self.frame, node);
                    envelope::batch_push(&mut self.frame, &self.first);
                }
                envelope::batch_push(&mut self.frame, &bytes);
                Ok(())
            }
            Some(_) => Err(bytes),
        }
    }

    /// Adds the group's PUBLISH to `pipe` and empties the group.
    fn flush_into(&mut self, pipe: &mut redis::Pipeline) {
        let Some(channel) = self.channel.take() else { return };
        let msg = if self.frame.is_empty() { std::mem::take(&mut self.first) } else { std::mem::take(&mut self.frame) };
        self.first.clear();
        pipe.cmd("PUBLISH").arg(&*channel).arg(msg).ignore();
    }
}

/// Subscribes, reads, and resubscribes after a loss. A subscription that
/// hears nothing for a heartbeat timeout (not even this node's own
/// heartbeats) is treated as lost.
async fn subscriber(inner: Arc<Inner>, client: redis::Client) {
    let mut backoff = MIN_BACKOFF;
    let mut ever_connected = false;
    let pattern = format!("{}#*", inner.cfg.prefix);
    loop {
        let ps = match timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await {
            Ok(Ok(p)) => Some(p),
            Ok(Err(e)) => {
                inner.set_error(e);
                None
            }
            Err(_) => {
                inner.set_error("connect timed out");
                None
            }
        };
        let Some(mut ps) = ps else {
            sleep(backoff).await;
            backoff = (backoff * 2).min(inner.cfg.max_backoff);
            continue;
        };
        let subscribed = ps.psubscribe(&pattern).await.is_ok()
            && ps.subscribe(&*inner.req_channel).await.is_ok()
            && ps.subscribe(&*inner.own_res_channel).await.is_ok();
        if !subscribed {
            sleep(backoff).await;
            backoff = (backoff * 2).min(inner.cfg.max_backoff);
            continue;
        }
        if ever_connected {
            bump(&inner.stats.reconnects, 1);
        }
        ever_connected = true;
        backoff = MIN_BACKOFF;
        inner.sub_up.store(true, Ordering::Relaxed);
        // Announce at once, so the others count this node without waiting
        // for the next beat.
        inner.publish(inner.req_channel.clone(), "", Body::Heartbeat);
        let silence = inner.cfg.heartbeat_timeout;
        {
            let mut stream = ps.on_message();
            // A watchdog tick instead of a timer per message.
            let mut watchdog = tokio::time::interval(silence / 4);
            let mut last = Instant::now();
            loop {
                tokio::select! {
                    msg = stream.next() => match msg {
                        Some(msg) => {
                            last = Instant::now();
                            handle(&inner, msg.get_payload_bytes());
                        }
                        None => break,
                    },
                    _ = watchdog.tick() => {
                        if last.elapsed() > silence {
                            break;
                        }
                    }
                }
            }
        }
        inner.sub_up.store(false, Ordering::Relaxed);
        inner.set_error("subscription lost");
    }
}

/// One bus message, or each message of a batch frame.
fn handle(inner: &Arc<Inner>, bytes: &[u8]) {
    // This node's own messages come back too; skip them before decoding.
    if envelope::peek_node(bytes) == Some(inner.node) {
        return;
    }
    if envelope::is_batch(bytes) {
        match envelope::batch_items(bytes) {
            Ok(items) => items.into_iter().for_each(|m| handle_one(inner, m)),
            Err(_) => bump(&inner.stats.decode_errors, 1),
        }
        return;
    }
    handle_one(inner, bytes);
}

/// One message: membership and answers here, the rest to the dispatcher
/// thread.
fn handle_one(inner: &Arc<Inner>, bytes: &[u8]) {
    let env = match envelope::decode(bytes) {
        Ok(env) => env,
        Err(DecodeError::Foreign | DecodeError::Version(_) | DecodeError::Corrupt) => {
            bump(&inner.stats.decode_errors, 1);
            return;
        }
    };
    if env.node == inner.node {
        return;
    }
    bump(&inner.stats.received, 1);
    if matches!(env.body, Body::Bye) {
        inner.nodes.lock().remove(&env.node);
        return;
    }
    // Any message proves its sender alive.
    inner.nodes.lock().insert(env.node, Instant::now());
    if matches!(env.body, Body::Heartbeat) {
        return;
    }
    if let Some(req) = env.body.answer_to() {
        if let Some(tx) = inner.pending.lock().get(&req) {
            let _ = tx.send((env.node, env.body));
        }
        return;
    }
    // Emits are delivered here at once: delivery never blocks, and a
    // thread hop would cost more than the fan-out. Requests, which run
    // handlers that may themselves wait on the cluster, go to the
    // dispatcher thread.
    if matches!(env.body, Body::Broadcast { .. }) {
        // User code (notify callbacks, overflow disconnects) may run here;
        // a panic in it must not end the subscriber.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| crate::dispatch(inner, env)));
        return;
    }
    if inner.dispatch.try_send(env).is_err() {
        bump(&inner.stats.dropped, 1);
    }
}

/// Beats, and ages out silent nodes.
async fn heartbeat(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(inner.cfg.heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        inner.publish(inner.req_channel.clone(), "", Body::Heartbeat);
        inner.prune();
    }
}
