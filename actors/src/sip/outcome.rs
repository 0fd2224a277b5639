//! How a call ended, and how an outbound attempt's final SIP status maps onto
//! the outcomes campaigns and the API report.

use std::fmt;

/// The outcome of a call attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallOutcome {
    /// Answered and ended normally.
    Completed,
    /// The callee was busy (486, 600).
    Busy,
    /// Nobody answered: 408/480/487, or our ring timeout cancelled the call.
    NoAnswer,
    /// The far end refused the call for good (403, 404, 410, 484, 485, 488, 603, 604, 606).
    Rejected,
    /// Anything else went wrong: other 4xx/5xx/6xx, transport errors, media failure.
    Failed,
    /// The caller hung up before we answered (CANCEL).
    Canceled,
}

impl CallOutcome {
    /// The outcome of an outbound INVITE that ended with a final non-2xx `status`.
    pub fn from_final_status(status: u16) -> CallOutcome {
        match status {
            486 | 600 => CallOutcome::Busy,
            408 | 480 | 487 => CallOutcome::NoAnswer,
            403 | 404 | 410 | 484 | 485 | 488 | 603 | 604 | 606 => CallOutcome::Rejected,
            _ => CallOutcome::Failed,
        }
    }

    /// The outcome's name at the API edge.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Completed => "completed",
            CallOutcome::Busy => "busy",
            CallOutcome::NoAnswer => "no-answer",
            CallOutcome::Rejected => "rejected",
            CallOutcome::Failed => "failed",
            CallOutcome::Canceled => "canceled",
        }
    }
}

impl fmt::Display for CallOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_statuses_map_to_outcomes() {
        let cases = [
            (486, CallOutcome::Busy),
            (600, CallOutcome::Busy),
            (480, CallOutcome::NoAnswer),
            (408, CallOutcome::NoAnswer),
            (487, CallOutcome::NoAnswer),
            (404, CallOutcome::Rejected),
            (603, CallOutcome::Rejected),
            (488, CallOutcome::Rejected),
            (500, CallOutcome::Failed),
            (503, CallOutcome::Failed),
            (401, CallOutcome::Failed),
            (699, CallOutcome::Failed),
        ];
        for (status, want) in cases {
            assert_eq!(CallOutcome::from_final_status(status), want, "{status}");
        }
        assert_eq!(CallOutcome::NoAnswer.to_string(), "no-answer");
    }
}
