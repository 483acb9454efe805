//! Name validation: the one rule per kind of name, used wherever a name
//! enters (registration, dispatch, emit, join).

use crate::error::{NameError, NameKind, NameProblem};

/// Event names a host may not emit: Socket.IO reserves them for lifecycle events.
pub const RESERVED_EVENTS: &[&str] =
    &["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];

fn err(kind: NameKind, name: &str, problem: NameProblem) -> NameError {
    let shown: String = name.chars().take(64).collect();
    NameError { kind, name: shown, problem }
}

fn check_common(kind: NameKind, name: &str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(err(kind, name, NameProblem::Empty));
    }
    if name.len() > max {
        return Err(err(kind, name, NameProblem::TooLong { len: name.len(), max }));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(err(kind, name, NameProblem::InvalidChar(c)));
    }
    Ok(())
}

pub(crate) fn check_namespace(name: &str, max: usize) -> Result<(), NameError> {
    check_common(NameKind::Namespace, name, max)?;
    if !name.starts_with('/') {
        return Err(err(NameKind::Namespace, name, NameProblem::MissingSlash));
    }
    if name.contains(',') {
        return Err(err(NameKind::Namespace, name, NameProblem::InvalidChar(',')));
    }
    Ok(())
}

/// Room names: non-empty and at most `max` bytes. Any other character is
/// allowed (room names never appear on the wire).
pub(crate) fn check_room(name: &str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(err(NameKind::Room, name, NameProblem::Empty));
    }
    if name.len() > max {
        return Err(err(NameKind::Room, name, NameProblem::TooLong { len: name.len(), max }));
    }
    Ok(())
}

/// Event names, wherever they enter: emits, inbound dispatch, handler
/// registration (`on` / `off`). Non-empty, bounded, no control characters,
/// not reserved. One rule, so a handler can only be registered for a name
/// that dispatch accepts.
pub(crate) fn check_event(name: &str, max: usize) -> Result<(), NameError> {
    check_common(NameKind::Event, name, max)?;
    if RESERVED_EVENTS.contains(&name) {
        return Err(err(NameKind::Event, name, NameProblem::Reserved));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_rules() {
        assert!(check_namespace("/", 256).is_ok());
        assert!(check_namespace("/chat/room-1", 256).is_ok());
        assert_eq!(check_namespace("", 256).unwrap_err().problem, NameProblem::Empty);
        assert_eq!(check_namespace("chat", 256).unwrap_err().problem, NameProblem::MissingSlash);
        assert_eq!(check_namespace("/a,b", 256).unwrap_err().problem, NameProblem::InvalidChar(','));
        assert_eq!(check_namespace("/a\nb", 256).unwrap_err().problem, NameProblem::InvalidChar('\n'));
        assert!(matches!(check_namespace("/abcd", 4).unwrap_err().problem, NameProblem::TooLong { len: 5, max: 4 }));
    }

    #[test]
    fn event_rules() {
        assert!(check_event("chat message", 256).is_ok());
        assert_eq!(check_event("disconnect", 256).unwrap_err().problem, NameProblem::Reserved);
        assert_eq!(check_event("", 256).unwrap_err().problem, NameProblem::Empty);
        assert!(check_room("any thing, even /slashes", 256).is_ok());
        assert!(check_room("", 256).is_err());
    }
}
