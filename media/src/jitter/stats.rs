//! Receive statistics kept by the jitter buffer.

/// Counters a jitter buffer keeps (all since the stream started or was reset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted into the buffer (not counting duplicates, late or rejected ones).
    pub received: u64,
    /// Packets whose playout time passed before they arrived (RFC 3550 loss as the
    /// listener hears it): each became one concealed frame.
    pub lost: u64,
    /// Packets that arrived after their slot had been played or concealed.
    pub late: u64,
    /// Packets seen twice.
    pub duplicates: u64,
    /// Packets that arrived after a packet with a higher sequence number.
    pub reordered: u64,
    /// Frames synthesised because nothing was there to play (losses and underruns).
    pub concealed: u64,
    /// Ticks where the buffer had run dry while playing.
    pub underruns: u64,
    /// Frames discarded to bring the depth back down to the target.
    pub discarded: u64,
    /// Packets rejected as oversized or from an unexpected source.
    pub rejected: u64,
    /// Times the stream restarted (new SSRC or a sequence jump beyond the window).
    pub resets: u64,
    /// First extended sequence number of the current stream (RTCP "base").
    pub base_seq: u64,
    /// Highest extended sequence number received (RTCP "extended highest").
    pub highest_seq: u64,
}

impl JitterStats {
    /// Packets expected from the sequence numbers seen (RFC 3550 A.3).
    pub fn expected(&self) -> u64 {
        if self.received == 0 {
            0
        } else {
            self.highest_seq - self.base_seq + 1
        }
    }

    /// Cumulative packets lost per RFC 3550 A.3 (expected − received, may be negative
    /// with duplicates, which are not counted as received here so it is not).
    pub fn cumulative_lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }
}
