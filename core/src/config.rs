//! Engine configuration.
//!
//! A [`Config`] can only be built valid: its fields are private and every
//! setter goes through [`ConfigBuilder::build`], which checks each value and
//! returns a [`ConfigError`] naming the offending option. [`Config::default`]
//! gives the documented defaults.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::ConfigError;

/// What an outbox does when a new message does not fit (see the crate docs,
/// "Back-pressure").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OverflowPolicy {
    /// Keep what is queued, drop the new message.
    DropNewest,
    /// Evict the oldest queued messages until the new one fits; the receiver
    /// sees a [`Lagged`](crate::MessageKind::Lagged) notice with the number lost.
    #[default]
    DropOldest,
    /// Close the connection with reason [`QueueOverflow`](crate::DisconnectReason::QueueOverflow).
    Disconnect,
}

impl OverflowPolicy {
    /// The configuration string for this policy (`"drop_newest"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            OverflowPolicy::DropNewest => "drop_newest",
            OverflowPolicy::DropOldest => "drop_oldest",
            OverflowPolicy::Disconnect => "disconnect",
        }
    }
}

impl fmt::Display for OverflowPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OverflowPolicy {
    type Err = ConfigError;

    /// Parses `"drop_newest"`, `"drop_oldest"` or `"disconnect"`.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "drop_newest" => Ok(OverflowPolicy::DropNewest),
            "drop_oldest" => Ok(OverflowPolicy::DropOldest),
            "disconnect" => Ok(OverflowPolicy::Disconnect),
            other => Err(ConfigError::new(
                "overflow",
                format!("unknown policy {other:?}; expected drop_newest, drop_oldest or disconnect"),
            )),
        }
    }
}

/// Validated engine configuration. Build one with [`Config::builder`].
///
/// ```
/// use roomcast::{Config, OverflowPolicy};
/// let cfg = Config::builder().max_queue(64).overflow(OverflowPolicy::DropNewest).build()?;
/// assert_eq!(cfg.max_queue(), 64);
/// assert!(Config::builder().max_queue(0).build().is_err());
/// # Ok::<(), roomcast::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    max_queue: usize,
    max_queue_bytes: usize,
    overflow: OverflowPolicy,
    max_payload: usize,
    max_rooms_per_socket: usize,
    max_name_len: usize,
    ack_timeout: Duration,
    remove_empty_dynamic: bool,
    recovery: Option<RecoveryConfig>,
}

/// Upper bound accepted for `max_name_len`.
pub const MAX_NAME_LEN_LIMIT: usize = 64 * 1024;

impl Default for Config {
    fn default() -> Self {
        Config {
            max_queue: 1024,
            max_queue_bytes: 1 << 20,
            overflow: OverflowPolicy::DropOldest,
            max_payload: 1 << 20,
            max_rooms_per_socket: 1024,
            max_name_len: 256,
            ack_timeout: Duration::from_secs(10),
            remove_empty_dynamic: false,
            recovery: None,
        }
    }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder { cfg: Config::default() }
    }
    /// Messages per outbox (default 1024).
    pub fn max_queue(&self) -> usize {
        self.max_queue
    }
    /// Bytes per outbox (default 1 MiB).
    pub fn max_queue_bytes(&self) -> usize {
        self.max_queue_bytes
    }
    /// Default overflow policy of new connections (default `drop_oldest`).
    pub fn overflow(&self) -> OverflowPolicy {
        self.overflow
    }
    /// Largest accepted payload in bytes (default 1 MiB).
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }
    /// The one size rule for payloads, applied wherever one enters: emits,
    /// inbound events, ack replies (both directions) and handshake auth.
    /// `Err(PayloadError::TooLarge)` over `max_payload`.
    pub fn check_payload(&self, payload: &crate::Payload) -> Result<(), crate::PayloadError> {
        if payload.len() > self.max_payload {
            return Err(crate::PayloadError::TooLarge { size: payload.len(), limit: self.max_payload });
        }
        Ok(())
    }
    /// Rooms a socket may join, not counting its own-id room (default 1024).
    pub fn max_rooms_per_socket(&self) -> usize {
        self.max_rooms_per_socket
    }
    /// Longest namespace, room or event name in bytes (default 256).
    pub fn max_name_len(&self) -> usize {
        self.max_name_len
    }
    /// Connection state recovery for every namespace (`None`, the
    /// default: off); a namespace may override it (`Namespace::set_recovery`).
    pub fn connection_state_recovery(&self) -> Option<&RecoveryConfig> {
        self.recovery.as_ref()
    }
    /// Default acknowledgement timeout (default 10 s).
    pub fn ack_timeout(&self) -> Duration {
        self.ack_timeout
    }
    /// Whether dynamic child namespaces are removed when their last socket leaves.
    pub fn remove_empty_dynamic(&self) -> bool {
        self.remove_empty_dynamic
    }
}

/// The rule for an outbox's bounds, wherever they are set (the engine's
/// [`ConfigBuilder::build`], a connection's [`ConnectOptions`]): at least
/// one message, and room for one full-size payload.
fn check_queue_limits(max_queue: usize, max_queue_bytes: usize, max_payload: usize) -> Result<(), ConfigError> {
    if max_queue == 0 {
        return Err(ConfigError::new("max_queue", "must be at least 1".into()));
    }
    if max_queue_bytes < max_payload {
        return Err(ConfigError::new(
            "max_queue_bytes",
            format!("must be at least max_payload ({max_payload}), or a full-size payload could never be queued"),
        ));
    }
    Ok(())
}

/// Builder for [`Config`]; every value is checked in [`build`](Self::build).
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    cfg: Config,
}

impl ConfigBuilder {
    /// Messages per outbox; at least 1.
    pub fn max_queue(mut self, n: usize) -> Self {
        self.cfg.max_queue = n;
        self
    }
    /// Bytes per outbox; at least `max_payload`.
    pub fn max_queue_bytes(mut self, n: usize) -> Self {
        self.cfg.max_queue_bytes = n;
        self
    }
    /// Default overflow policy.
    pub fn overflow(mut self, p: OverflowPolicy) -> Self {
        self.cfg.overflow = p;
        self
    }
    /// Largest payload in bytes; at least 1.
    pub fn max_payload(mut self, n: usize) -> Self {
        self.cfg.max_payload = n;
        self
    }
    /// Rooms per socket; at least 1.
    pub fn max_rooms_per_socket(mut self, n: usize) -> Self {
        self.cfg.max_rooms_per_socket = n;
        self
    }
    /// Longest name in bytes; between 1 and [`MAX_NAME_LEN_LIMIT`].
    pub fn max_name_len(mut self, n: usize) -> Self {
        self.cfg.max_name_len = n;
        self
    }
    /// Default acknowledgement timeout; non-zero.
    pub fn ack_timeout(mut self, d: Duration) -> Self {
        self.cfg.ack_timeout = d;
        self
    }
    /// Remove dynamic child namespaces once empty (default false).
    pub fn remove_empty_dynamic(mut self, on: bool) -> Self {
        self.cfg.remove_empty_dynamic = on;
        self
    }
    /// Connection state recovery for every namespace (default off):
    /// sockets whose connection ends unexpectedly are kept for a resume
    /// (see [`Connection::resume_namespace`](crate::Connection::resume_namespace)).
    pub fn connection_state_recovery(mut self, rc: RecoveryConfig) -> Self {
        self.cfg.recovery = Some(rc);
        self
    }

    /// Sets an option by its configuration name from a string value, as the
    /// C and Python bindings receive them (`"max_queue"`, `"overflow"`, ...).
    /// `ack_timeout` is in milliseconds.
    pub fn set(self, key: &str, value: &str) -> Result<Self, ConfigError> {
        fn num(key: &str, v: &str) -> Result<usize, ConfigError> {
            v.trim()
                .parse::<usize>()
                .map_err(|_| ConfigError::new(key, format!("expected a non-negative integer, got {v:?}")))
        }
        Ok(match key {
            "max_queue" => self.max_queue(num(key, value)?),
            "max_queue_bytes" => self.max_queue_bytes(num(key, value)?),
            "overflow" => self.overflow(value.parse()?),
            "max_payload" => self.max_payload(num(key, value)?),
            "max_rooms_per_socket" => self.max_rooms_per_socket(num(key, value)?),
            "max_name_len" => self.max_name_len(num(key, value)?),
            "ack_timeout" => self.ack_timeout(Duration::from_millis(num(key, value)? as u64)),
            // In milliseconds; 0 turns recovery off.
            "max_disconnection_duration" => match num(key, value)? {
                0 => ConfigBuilder { cfg: Config { recovery: None, ..self.cfg } },
                ms => {
                    let rc = self.cfg.recovery.clone().unwrap_or_default();
                    self.connection_state_recovery(rc.max_disconnection_duration(Duration::from_millis(ms as u64)))
                }
            },
            "recovery_max_events" | "recovery_max_bytes" | "recovery_max_sockets" => {
                let n = num(key, value)?;
                let Some(rc) = self.cfg.recovery.clone() else {
                    return Err(ConfigError::new(key, "set max_disconnection_duration first (recovery is off)".into()));
                };
                let rc = match key {
                    "recovery_max_events" => rc.max_events(n),
                    "recovery_max_bytes" => rc.max_bytes(n),
                    _ => rc.max_sockets(n),
                };
                self.connection_state_recovery(rc)
            }
            "remove_empty_dynamic" => match value {
                "true" | "1" => self.remove_empty_dynamic(true),
                "false" | "0" => self.remove_empty_dynamic(false),
                _ => return Err(ConfigError::new(key, format!("expected true or false, got {value:?}"))),
            },
            _ => return Err(ConfigError::new(key, "unknown option".to_string())),
        })
    }

    /// Checks every value and returns the configuration.
    pub fn build(self) -> Result<Config, ConfigError> {
        let c = self.cfg;
        if c.max_payload == 0 {
            return Err(ConfigError::new("max_payload", "must be at least 1".into()));
        }
        check_queue_limits(c.max_queue, c.max_queue_bytes, c.max_payload)?;
        if c.max_rooms_per_socket == 0 {
            return Err(ConfigError::new("max_rooms_per_socket", "must be at least 1".into()));
        }
        if c.max_name_len == 0 || c.max_name_len > MAX_NAME_LEN_LIMIT {
            return Err(ConfigError::new("max_name_len", format!("must be between 1 and {MAX_NAME_LEN_LIMIT}")));
        }
        if c.ack_timeout.is_zero() {
            return Err(ConfigError::new("ack_timeout", "must be greater than zero".into()));
        }
        if let Some(rc) = &c.recovery {
            rc.check().map_err(|m| ConfigError::new("connection_state_recovery", m))?;
        }
        Ok(c)
    }
}

/// Per-connection overrides of the queue limits, for [`Engine::connect_with`](crate::Engine::connect_with).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    pub(crate) max_queue: Option<usize>,
    pub(crate) max_queue_bytes: Option<usize>,
    pub(crate) overflow: Option<OverflowPolicy>,
}

impl ConnectOptions {
    /// No overrides: the engine's configuration applies.
    pub fn new() -> Self {
        Self::default()
    }
    /// Messages in this connection's outbox; at least 1.
    pub fn max_queue(mut self, n: usize) -> Self {
        self.max_queue = Some(n);
        self
    }
    /// Bytes in this connection's outbox; at least the engine's `max_payload`.
    pub fn max_queue_bytes(mut self, n: usize) -> Self {
        self.max_queue_bytes = Some(n);
        self
    }
    /// This connection's overflow policy.
    pub fn overflow(mut self, p: OverflowPolicy) -> Self {
        self.overflow = Some(p);
        self
    }

    pub(crate) fn resolve(&self, cfg: &Config) -> Result<(usize, usize, OverflowPolicy), ConfigError> {
        let q = self.max_queue.unwrap_or(cfg.max_queue);
        let b = self.max_queue_bytes.unwrap_or(cfg.max_queue_bytes);
        check_queue_limits(q, b, cfg.max_payload)?;
        Ok((q, b, self.overflow.unwrap_or(cfg.overflow)))
    }
}

/// Connection state recovery settings (see the crate's recovery docs in
/// [`Socket::recovered`](crate::Socket::recovered) and
/// [`Namespace::set_recovery`](crate::Namespace::set_recovery)).
///
/// ```
/// use roomcast::{Config, RecoveryConfig};
/// use std::time::Duration;
/// let rc = RecoveryConfig::new().max_disconnection_duration(Duration::from_secs(30)).max_events(5000);
/// let cfg = Config::builder().connection_state_recovery(rc).build()?;
/// assert_eq!(cfg.connection_state_recovery().unwrap().max_events_value(), 5000);
/// # Ok::<(), roomcast::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryConfig {
    max_disconnection_duration: Duration,
    max_events: usize,
    max_bytes: usize,
    max_sockets: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(120),
            max_events: 10_000,
            max_bytes: 8 << 20,
            max_sockets: 10_000,
        }
    }
}

impl RecoveryConfig {
    /// The defaults: sockets kept 2 minutes, at most 10,000 kept events,
    /// 8 MiB of their payloads and 10,000 kept sockets per namespace.
    pub fn new() -> Self {
        Self::default()
    }
    /// How long a dropped socket is kept, and how old a kept event may be.
    pub fn max_disconnection_duration(mut self, d: Duration) -> Self {
        self.max_disconnection_duration = d;
        self
    }
    /// Events the namespace's log keeps at most.
    pub fn max_events(mut self, n: usize) -> Self {
        self.max_events = n;
        self
    }
    /// Payload bytes (with event names) the namespace's log keeps at most.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }
    /// Sockets the namespace keeps for recovery at most: a client that
    /// connects and drops over and over cannot make the server hold more.
    /// Past it the longest-kept socket ends (`recovery expired`).
    pub fn max_sockets(mut self, n: usize) -> Self {
        self.max_sockets = n;
        self
    }
    /// See [`max_sockets`](Self::max_sockets).
    pub fn max_sockets_value(&self) -> usize {
        self.max_sockets
    }
    /// See [`max_disconnection_duration`](Self::max_disconnection_duration).
    pub fn max_disconnection_duration_value(&self) -> Duration {
        self.max_disconnection_duration
    }
    /// See [`max_events`](Self::max_events).
    pub fn max_events_value(&self) -> usize {
        self.max_events
    }
    /// See [`max_bytes`](Self::max_bytes).
    pub fn max_bytes_value(&self) -> usize {
        self.max_bytes
    }
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.max_disconnection_duration.is_zero() {
            return Err("max_disconnection_duration must be greater than zero".into());
        }
        if self.max_events == 0 {
            return Err("recovery_max_events must be at least 1".into());
        }
        if self.max_bytes == 0 {
            return Err("recovery_max_bytes must be at least 1".into());
        }
        if self.max_sockets == 0 {
            return Err("recovery max_sockets must be at least 1".into());
        }
        Ok(())
    }
}
