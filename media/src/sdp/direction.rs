//! Media direction attributes (RFC 8866 §6.7, RFC 3264 §6.1).

use std::fmt;

/// A stream's direction, from the point of view of the side that declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv` (the default when no attribute is present).
    #[default]
    SendRecv,
    /// `a=sendonly`: the declarer sends and does not want to receive (hold).
    SendOnly,
    /// `a=recvonly`: the declarer only receives.
    RecvOnly,
    /// `a=inactive`: no media either way.
    Inactive,
}

impl Direction {
    /// The direction with the given send and receive flags.
    pub const fn from_flags(send: bool, recv: bool) -> Direction {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether the declarer sends media.
    pub const fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the declarer receives media.
    pub const fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other end: `sendonly` ↔ `recvonly`;
    /// `sendrecv` and `inactive` are unchanged. This is the answer to an offered
    /// direction when the answerer has no restriction of its own.
    pub const fn reversed(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// Both restrictions at once: sends only if both do, receives only if both do.
    pub const fn intersect(self, other: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    /// The attribute name, e.g. `"sendonly"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Parses an attribute name (ASCII case-insensitive).
    pub fn from_attribute(name: &str) -> Option<Direction> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversed_is_the_rfc3264_answer() {
        assert_eq!(Direction::SendRecv.reversed(), Direction::SendRecv);
        assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
        assert_eq!(Direction::RecvOnly.reversed(), Direction::SendOnly);
        assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
    }

    #[test]
    fn intersect_drops_capabilities() {
        assert_eq!(
            Direction::SendOnly.intersect(Direction::RecvOnly),
            Direction::Inactive
        );
        assert_eq!(
            Direction::SendRecv.intersect(Direction::SendOnly),
            Direction::SendOnly
        );
    }

    #[test]
    fn attribute_names_round_trip() {
        for d in [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ] {
            assert_eq!(Direction::from_attribute(d.as_str()), Some(d));
        }
        assert_eq!(
            Direction::from_attribute("SENDONLY"),
            Some(Direction::SendOnly)
        );
        assert_eq!(Direction::from_attribute("rtcp-mux"), None);
    }
}
