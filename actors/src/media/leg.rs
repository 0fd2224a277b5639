//! The media leg task and its handle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tenex_media::SampleRate;
use tenex_media::dtmf::{
    DTMF_PAYLOAD_LEN, DtmfDetector, DtmfDigit, DtmfGenerator, DtmfOutcome, DtmfTone,
};
use tenex_media::jitter::{JitterBuffer, JitterConfig, JitterStats};
use tenex_media::opus::MAX_PACKET;
use tenex_media::pacer::{Flushed, ItemTag, Pacer, PacerConfig};
use tenex_media::rtcp::{self, ReceptionStats, Report, SenderInfo};
use tenex_media::rtp::{self, PayloadType, RtpPacket, RtpSender, RtpTimestamp, SeqNo, Ssrc};
use tenex_media::sdp::{Codec, Direction};
use tenex_media::wav::{RecorderConfig, WavFileRecorder};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use super::codec::LegCodec;
use super::ports::PortLease;
use super::ring::{AudioFrame, AudioRing};

const TICK: Duration = Duration::from_millis(20);
/// Commands queued for the leg (control only: a handful per call).
const COMMAND_QUEUE: usize = 32;

/// What the leg does with the caller's audio.
#[derive(Debug, Clone)]
pub enum MediaMode {
    /// Play it straight back (decoded and re-encoded).
    Echo,
    /// Exchange frames with the rest of the call through two rings.
    Bridge {
        /// Decoded caller audio, one frame per tick.
        uplink: AudioRing,
        /// Agent audio to play, queued into the pacer each tick.
        downlink: AudioRing,
    },
}

/// How to run one leg (from the negotiated SDP).
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Audio codec.
    pub codec: Codec,
    /// Payload type we send audio with.
    pub send_pt: PayloadType,
    /// Payload type we expect audio on.
    pub recv_pt: PayloadType,
    /// RFC 4733 telephone-event payload types (send, receive) and clock rate.
    pub dtmf: Option<(PayloadType, PayloadType, u32)>,
    /// Where to send RTP until the far end's real address is latched.
    pub remote_rtp: Option<SocketAddr>,
    /// Where to send RTCP when not multiplexed.
    pub remote_rtcp: Option<SocketAddr>,
    /// RTCP on the RTP port (RFC 5761).
    pub rtcp_mux: bool,
    /// Our media direction (hold: `SendOnly`/`Inactive` stop what we send).
    pub direction: Direction,
    /// PCM rate inside the leg (G.711 is always 8 kHz; Opus may run at 24 kHz).
    pub pcm_rate: SampleRate,
    /// Our RTCP CNAME.
    pub cname: String,
    /// Echo or bridge.
    pub mode: MediaMode,
    /// No RTP from the far end for this long raises [`MediaEvent::Inactive`].
    pub inactivity_timeout: Duration,
    /// How often to send RTCP reports (RFC 3550 suggests 5 s).
    pub rtcp_interval: Duration,
    /// Record the call here as a stereo WAV at the leg's PCM rate: caller left
    /// (what the jitter buffer played out), agent right (what the pacer sent).
    pub recording: Option<std::path::PathBuf>,
}

/// Commands to a running leg.
#[derive(Debug)]
pub enum MediaCommand {
    /// The far end moved (re-INVITE).
    Remote {
        /// New RTP address.
        rtp: Option<SocketAddr>,
        /// New RTCP address.
        rtcp: Option<SocketAddr>,
    },
    /// Hold / unhold.
    Direction(Direction),
    /// Send one key press as RFC 4733 events.
    SendDtmf(DtmfDigit),
    /// Barge-in: drop queued agent audio now; replies with what was heard.
    Flush(oneshot::Sender<Flushed>),
    /// Fault injection: the task exits at once as if it had crashed (no
    /// orderly stop), so supervision can be tested end to end.
    Crash,
}

/// What the leg reports to the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// The caller pressed a key (RFC 4733).
    Dtmf(DtmfDigit),
    /// Media latched to the far end's real address.
    Latched(SocketAddr),
    /// No RTP received for the inactivity timeout.
    Inactive,
}

/// Counters, live while the leg runs and final once it stops.
#[derive(Debug, Default)]
pub struct MediaStats {
    /// RTP packets sent.
    pub rtp_sent: AtomicU64,
    /// RTP packets received from the latched source (audio and events).
    pub rtp_received: AtomicU64,
    /// Datagrams dropped: malformed, wrong payload type, or from another source.
    pub rtp_rejected: AtomicU64,
    /// RTCP packets sent.
    pub rtcp_sent: AtomicU64,
    /// RTCP compounds received.
    pub rtcp_received: AtomicU64,
    /// DTMF key presses received.
    pub dtmf_received: AtomicU64,
    /// Events that could not be delivered because the event queue was full.
    pub events_dropped: AtomicU64,
    /// Agent audio frames waiting in the pacer (bridge mode), updated every tick.
    pub playout_queued: AtomicU64,
    /// Agent audio frames played (bridge mode).
    pub playout_played: AtomicU64,
    /// The recording stopped early (could not create or write the file).
    pub recording_failed: AtomicU64,
    /// 20 ms sending slots the pacer let pass because the leg ran late (a
    /// starved leg drops them instead of sending a burst).
    pub ticks_skipped: AtomicU64,
}

impl MediaStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A counter's current value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Handle to a running media leg.
#[derive(Debug)]
pub struct MediaLeg {
    commands: mpsc::Sender<MediaCommand>,
    stats: Arc<MediaStats>,
    local: SocketAddr,
    task: Option<JoinHandle<JitterStats>>,
    stop: Option<oneshot::Sender<()>>,
}

impl MediaLeg {
    /// Starts a leg on the leased ports. Events go to `events` (bounded; when it is
    /// full the event is dropped and counted).
    pub fn spawn(
        mut lease: PortLease,
        cfg: MediaConfig,
        events: mpsc::Sender<MediaEvent>,
    ) -> std::io::Result<MediaLeg> {
        let (rtp, rtcp) = lease
            .take_sockets()
            .ok_or_else(|| std::io::Error::other("lease sockets already taken"))?;
        let rtp = UdpSocket::from_std(rtp)?;
        let rtcp = UdpSocket::from_std(rtcp)?;
        let local = rtp.local_addr()?;
        let codec = LegCodec::new(cfg.codec, cfg.pcm_rate, cfg.dtmf.map(|d| d.1))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let stats = Arc::new(MediaStats::default());
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = Task::new(lease, rtp, rtcp, cfg, codec, stats.clone(), events);
        let task = tokio::spawn(task.run(rx, stop_rx));
        Ok(MediaLeg {
            commands: tx,
            stats,
            local,
            task: Some(task),
            stop: Some(stop_tx),
        })
    }

    /// The local RTP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Live counters.
    pub fn stats(&self) -> &Arc<MediaStats> {
        &self.stats
    }

    /// Sends a command; false if the leg has stopped or its queue is full.
    pub fn command(&self, cmd: MediaCommand) -> bool {
        self.commands.try_send(cmd).is_ok()
    }

    /// Resolves if the leg's task ends on its own (it only does on a bug or panic);
    /// pending forever once [`MediaLeg::stop`] is the way it will end.
    pub async fn exited(&mut self) {
        match self.task.as_mut() {
            Some(task) => {
                let _ = task.await;
                self.task = None;
            }
            None => std::future::pending().await,
        }
    }

    /// A sender for commands (for the bridge: flush on barge-in).
    pub fn commands(&self) -> mpsc::Sender<MediaCommand> {
        self.commands.clone()
    }

    /// Stops the leg, releases its port and returns the receive statistics.
    pub async fn stop(mut self) -> JitterStats {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or_default(),
            None => JitterStats::default(),
        }
    }
}

impl Drop for MediaLeg {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Process-unique random-ish values for SSRC, first sequence number and timestamp.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Now as a 64-bit NTP timestamp.
fn ntp_now() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs() + 2_208_988_800;
    let frac = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

struct Task {
    _lease: PortLease,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    cfg: MediaConfig,
    codec: LegCodec,
    stats: Arc<MediaStats>,
    events: mpsc::Sender<MediaEvent>,
    jitter: JitterBuffer,
    pacer: Pacer<i16>,
    sender: RtpSender,
    rtp_ticks: u32,
    latched: Option<SocketAddr>,
    rtcp_latched: Option<SocketAddr>,
    remote_ssrc: Option<Ssrc>,
    detector: DtmfDetector,
    dtmf_out: Option<DtmfGenerator>,
    dtmf_queue: std::collections::VecDeque<DtmfDigit>,
    reception: ReceptionStats,
    last_rtp: Instant,
    inactive_reported: bool,
    pcm: [i16; 960],
    payload: [u8; MAX_PACKET],
    wire: [u8; 1500],
    recorder: Option<WavFileRecorder>,
    rec_agent: [i16; 960],
    /// Where each channel's audio goes in the recording.
    timeline: RecTimeline,
    /// When the jitter buffer's next frame is due.
    playout: PlayoutClock,
}

/// Frames of pause after which a channel's next frame is placed by the clock
/// rather than right after the last one.
const REC_GAP_FRAMES: u64 = 3;

/// A recording channel.
#[derive(Debug, Clone, Copy)]
enum Channel {
    Caller,
    Agent,
}

/// The recording's call timeline. A channel's frames are written back to back
/// while they keep coming (timing jitter around a slot boundary must not open
/// 20 ms holes in a voice); after a pause of [`REC_GAP_FRAMES`] or more, the
/// next frame goes to the 20 ms slot of the call that `at` falls in, so
/// silence stays where it was. Each channel keeps its own position, so a tick
/// that carries audio on one channel only, or a late tick that catches up on
/// several caller frames, never moves the other channel.
#[derive(Debug)]
struct RecTimeline {
    start: std::time::Instant,
    frame: u64,
    /// Where each channel's next frame goes if it follows on (none yet: by the clock).
    caller: Option<u64>,
    agent: Option<u64>,
}

impl RecTimeline {
    fn new(start: std::time::Instant, frame_samples: usize) -> RecTimeline {
        RecTimeline {
            start,
            frame: frame_samples as u64,
            caller: None,
            agent: None,
        }
    }

    /// The sample position of `channel`'s next frame, heard at `at`.
    fn place(&mut self, channel: Channel, at: std::time::Instant) -> u64 {
        let slot = (at.saturating_duration_since(self.start).as_millis() as u64 / 20) * self.frame;
        let next = match channel {
            Channel::Caller => &mut self.caller,
            Channel::Agent => &mut self.agent,
        };
        let pos = match *next {
            Some(n) if slot < n + REC_GAP_FRAMES * self.frame => n,
            _ => slot,
        };
        *next = Some(pos + self.frame);
        pos
    }
}

/// Frames of caller audio a starved leg plays out at once, catching up (the
/// jitter buffer's reorder window); a longer stall restarts the clock.
const MAX_CATCH_UP: u32 = 32;

/// The caller side's 20 ms clock. The leg's ticks follow the pacer's deadlines
/// and can come late when the task is starved; every frame that fell due in the
/// meantime is still taken out of the jitter buffer, so no caller audio is
/// dropped and the uplink keeps the call's clock (transcript times stay where
/// the words were said).
#[derive(Debug, Default)]
struct PlayoutClock {
    next: Option<std::time::Instant>,
}

impl PlayoutClock {
    /// How many frames are due at `now` (within half a frame), advancing past them.
    fn due(&mut self, now: std::time::Instant) -> u32 {
        let Some(next) = self.next else {
            self.next = Some(now + TICK);
            return 1;
        };
        let horizon = now + TICK / 2;
        if next > horizon {
            return 0;
        }
        let due = (horizon.duration_since(next).as_micros() / TICK.as_micros()) as u32 + 1;
        if due > MAX_CATCH_UP {
            self.next = Some(now + TICK);
            return MAX_CATCH_UP;
        }
        self.next = Some(next + TICK * due);
        due
    }
}

impl Task {
    fn new(
        lease: PortLease,
        rtp: UdpSocket,
        rtcp: UdpSocket,
        cfg: MediaConfig,
        codec: LegCodec,
        stats: Arc<MediaStats>,
        events: mpsc::Sender<MediaEvent>,
    ) -> Task {
        let clock = match cfg.codec {
            Codec::Opus => 48_000,
            _ => 8_000,
        };
        let rate = codec.rate();
        let seed = random_u64();
        let recorder = cfg.recording.as_ref().and_then(|path| {
            WavFileRecorder::create(path, rate, RecorderConfig::default())
                .inspect_err(|e| {
                    tracing::warn!(path = %path.display(), error = %e, "cannot record the call");
                    MediaStats::bump(&stats.recording_failed);
                })
                .ok()
        });
        Task {
            _lease: lease,
            rtp,
            rtcp,
            jitter: JitterBuffer::new(JitterConfig {
                clock_rate: clock,
                event_payload_type: cfg.dtmf.map(|d| d.1),
                ..JitterConfig::default()
            }),
            pacer: Pacer::new(PacerConfig::pcm(rate.frame_samples())),
            sender: RtpSender::new(
                Ssrc(seed as u32),
                SeqNo((seed >> 32) as u16),
                RtpTimestamp((seed >> 16) as u32),
            ),
            rtp_ticks: clock / 50,
            latched: None,
            rtcp_latched: None,
            remote_ssrc: None,
            detector: DtmfDetector::new(),
            dtmf_out: None,
            dtmf_queue: std::collections::VecDeque::new(),
            reception: ReceptionStats::new(),
            last_rtp: Instant::now(),
            inactive_reported: false,
            pcm: [0; 960],
            payload: [0; MAX_PACKET],
            wire: [0; 1500],
            recorder,
            rec_agent: [0; 960],
            timeline: RecTimeline::new(std::time::Instant::now(), codec.rate().frame_samples()),
            playout: PlayoutClock::default(),
            cfg,
            codec,
            stats,
            events,
        }
    }

    async fn run(
        mut self,
        mut commands: mpsc::Receiver<MediaCommand>,
        mut stop: oneshot::Receiver<()>,
    ) -> JitterStats {
        let mut next_tick = Instant::now();
        let rtcp_interval = self.cfg.rtcp_interval.max(Duration::from_millis(100));
        let mut next_rtcp = Instant::now() + rtcp_interval;
        let mut rtp_buf = [0u8; 2048];
        let mut rtcp_buf = [0u8; 2048];
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                Some(cmd) = commands.recv() => {
                    if matches!(cmd, MediaCommand::Crash) {
                        tracing::warn!("media leg crashed on request");
                        return JitterStats::default();
                    }
                    self.on_command(cmd);
                }
                r = self.rtp.recv_from(&mut rtp_buf) => {
                    if let Ok((n, from)) = r {
                        self.on_datagram(&rtp_buf[..n], from);
                    }
                }
                r = self.rtcp.recv_from(&mut rtcp_buf) => {
                    if let Ok((n, from)) = r {
                        self.on_rtcp(&rtcp_buf[..n], from);
                    }
                }
                _ = sleep_until(next_tick) => {
                    let now = Instant::now();
                    self.on_tick(now);
                    // The pacer's grid while agent audio plays, else the caller's.
                    next_tick = self
                        .pacer
                        .next_deadline()
                        .or(self.playout.next)
                        .map_or(now + TICK, Instant::from_std);
                }
                _ = sleep_until(next_rtcp) => {
                    self.send_rtcp(Instant::now());
                    next_rtcp += rtcp_interval;
                }
            }
        }
        if let Some(rec) = self.recorder.take()
            && let Err(e) = rec.finish()
        {
            tracing::warn!(error = %e, "recording could not be finished");
            MediaStats::bump(&self.stats.recording_failed);
        }
        self.jitter.stats()
    }

    fn emit(&self, event: MediaEvent) {
        if self.events.try_send(event).is_err() {
            MediaStats::bump(&self.stats.events_dropped);
        }
    }

    fn on_command(&mut self, cmd: MediaCommand) {
        match cmd {
            MediaCommand::Remote { rtp, rtcp } => {
                self.cfg.remote_rtp = rtp;
                self.cfg.remote_rtcp = rtcp;
                // A re-INVITE may move the far end: latch again.
                self.latched = None;
                self.rtcp_latched = None;
            }
            MediaCommand::Direction(d) => self.cfg.direction = d,
            MediaCommand::SendDtmf(digit) => {
                if self.dtmf_queue.len() < 32 {
                    self.dtmf_queue.push_back(digit);
                }
            }
            MediaCommand::Flush(reply) => {
                if let MediaMode::Bridge { downlink, .. } = &self.cfg.mode {
                    downlink.clear();
                }
                let flushed = self.pacer.flush();
                self.stats.playout_queued.store(0, Ordering::Relaxed);
                let _ = reply.send(flushed);
            }
            MediaCommand::Crash => {}
        }
    }

    /// Writes caller audio (`caller` samples of `self.pcm`) and/or agent audio
    /// to the recording, each where [`RecTimeline`] places it.
    fn record(&mut self, at: std::time::Instant, caller: usize, agent: Option<usize>) {
        let Some(rec) = self.recorder.as_mut() else {
            return;
        };
        let mut ok = true;
        if caller > 0 {
            let pos = self.timeline.place(Channel::Caller, at);
            ok &= rec.push_caller(pos, &self.pcm[..caller]).is_ok();
        }
        if let Some(a) = agent {
            let pos = self.timeline.place(Channel::Agent, at);
            ok &= rec.push_agent(pos, &self.rec_agent[..a]).is_ok();
        }
        if !ok {
            tracing::warn!("recording write failed: recording stopped");
            MediaStats::bump(&self.stats.recording_failed);
            self.recorder = None;
        }
    }

    fn on_datagram(&mut self, buf: &[u8], from: SocketAddr) {
        if self.cfg.rtcp_mux && rtp::is_rtcp(buf) {
            self.on_rtcp(buf, from);
            return;
        }
        let Ok(pkt) = RtpPacket::parse(buf) else {
            MediaStats::bump(&self.stats.rtp_rejected);
            return;
        };
        let event_pt = self.cfg.dtmf.map(|d| d.1);
        let known = pkt.payload_type == self.cfg.recv_pt || Some(pkt.payload_type) == event_pt;
        match self.latched {
            Some(addr) if addr != from => {
                MediaStats::bump(&self.stats.rtp_rejected);
                return;
            }
            None if known => {
                self.latched = Some(from);
                self.emit(MediaEvent::Latched(from));
            }
            _ => {}
        }
        if !known {
            MediaStats::bump(&self.stats.rtp_rejected);
            return;
        }
        if self.remote_ssrc != Some(pkt.ssrc) {
            self.remote_ssrc = Some(pkt.ssrc);
            self.detector.reset();
        }
        MediaStats::bump(&self.stats.rtp_received);
        self.last_rtp = Instant::now();
        self.inactive_reported = false;
        if Some(pkt.payload_type) == event_pt
            && let DtmfOutcome::Pressed(ev) = self.detector.handle_rtp(&pkt)
        {
            MediaStats::bump(&self.stats.dtmf_received);
            self.emit(MediaEvent::Dtmf(ev.digit));
        }
        self.jitter.push(Instant::now().into_std(), &pkt);
    }

    fn on_rtcp(&mut self, buf: &[u8], from: SocketAddr) {
        let Ok(summary) = rtcp::parse_compound(buf) else {
            return;
        };
        MediaStats::bump(&self.stats.rtcp_received);
        if self.rtcp_latched.is_none() && !self.cfg.rtcp_mux {
            self.rtcp_latched = Some(from);
        }
        for sr in &summary.sender_reports {
            if Some(sr.ssrc) == self.remote_ssrc {
                self.reception
                    .on_sender_report(sr.info.ntp_time, Instant::now().into_std());
            }
        }
    }

    fn on_tick(&mut self, now: Instant) {
        let std_now = now.into_std();
        // Caller audio: one frame out of the jitter buffer per 20 ms that fell
        // due; frames a late tick catches up on are recorded in their own slots.
        let mut caller = 0;
        let due = self.playout.due(std_now);
        for behind in (0..due).rev() {
            caller = self.caller_frame(std_now);
            if behind > 0 {
                let at = std_now.checked_sub(TICK * behind).unwrap_or(std_now);
                self.record(at, caller, None);
            }
        }
        // Agent audio: everything that arrived since the last tick, into the
        // pacer. The frames are counted as queued before they leave the ring, so
        // "is the agent still playing" (ring not empty, or frames queued) never
        // reads false while they are in between.
        if let MediaMode::Bridge { downlink, .. } = &self.cfg.mode {
            let incoming = downlink.len();
            if incoming > 0 {
                self.stats.playout_queued.store(
                    (self.pacer.queued_frames() + incoming) as u64,
                    Ordering::SeqCst,
                );
            }
            for _ in 0..incoming {
                let Some(frame) = downlink.pop() else { break };
                self.pacer
                    .push(ItemTag(frame.item), frame.pcm(), frame.audio_us);
            }
        }
        let agent = self.send_tick(std_now);
        self.record(std_now, caller, agent);
        if let MediaMode::Bridge { .. } = &self.cfg.mode {
            self.stats
                .playout_queued
                .store(self.pacer.queued_frames() as u64, Ordering::Relaxed);
        }
        if !self.inactive_reported
            && now.duration_since(self.last_rtp) >= self.cfg.inactivity_timeout
        {
            self.inactive_reported = true;
            self.emit(MediaEvent::Inactive);
        }
    }

    /// Plays one caller frame out of the jitter buffer into the echo pacer or the
    /// uplink ring; returns its samples (0 while the buffer is still filling).
    fn caller_frame(&mut self, std_now: std::time::Instant) -> usize {
        let Some(n) = self.codec.decode(self.jitter.pop(std_now), &mut self.pcm) else {
            return 0;
        };
        match &self.cfg.mode {
            MediaMode::Echo => {
                self.pacer.push(ItemTag(0), &self.pcm[..n], 20_000);
            }
            MediaMode::Bridge { uplink, .. } => {
                uplink.push(AudioFrame::new(&self.pcm[..n], 0, 20_000).stamped(std_now))
            }
        }
        n
    }

    fn destination(&self) -> Option<SocketAddr> {
        self.latched
            .or(self.cfg.remote_rtp)
            .filter(|a| !a.ip().is_unspecified() && a.port() != 0)
    }

    /// Sends this tick's frame; returns the samples of agent audio it carried
    /// (copied for the recording when there is one).
    fn send_tick(&mut self, std_now: std::time::Instant) -> Option<usize> {
        let tick = self.pacer.poll(std_now)?;
        let (skipped, marker) = (tick.skipped, tick.talkspurt_start);
        let mut agent = None;
        if tick.item.is_some() {
            MediaStats::bump(&self.stats.playout_played);
            if self.recorder.is_some() {
                let n = tick.frame.len().min(self.rec_agent.len());
                self.rec_agent[..n].copy_from_slice(&tick.frame[..n]);
                agent = Some(n);
            }
        }
        let n = self.codec.encode(tick.frame, &mut self.payload);
        if skipped > 0 {
            self.stats
                .ticks_skipped
                .fetch_add(u64::from(skipped), Ordering::Relaxed);
            self.sender.skip(skipped * self.rtp_ticks);
        }
        let Some(dest) = self.destination() else {
            self.sender.skip(self.rtp_ticks);
            return agent;
        };
        if !self.cfg.direction.sends() {
            self.sender.skip(self.rtp_ticks);
            return agent;
        }
        if self.dtmf_out.is_none()
            && let Some(digit) = self.dtmf_queue.pop_front()
            && let Some((_, _, clock)) = self.cfg.dtmf
        {
            let tone = DtmfTone {
                clock_rate: clock,
                ..DtmfTone::new(digit)
            };
            self.dtmf_out = DtmfGenerator::new(&tone, self.sender.next_timestamp()).ok();
        }
        let len =
            if let (Some(generator), Some((pt, _, _))) = (self.dtmf_out.as_mut(), self.cfg.dtmf) {
                let mut body = [0u8; DTMF_PAYLOAD_LEN];
                let packet = generator.poll_packet(&mut body);
                let done = generator.is_done();
                let len = match packet {
                    Some(p) => self
                        .sender
                        .write_at(pt, p.marker, p.timestamp, &body, &mut self.wire)
                        .ok(),
                    None => None,
                };
                // Audio time keeps running underneath the event.
                self.sender.skip(self.rtp_ticks);
                if done {
                    self.dtmf_out = None;
                }
                len
            } else if n > 0 {
                self.sender
                    .write_media(
                        self.cfg.send_pt,
                        marker,
                        &self.payload[..n],
                        self.rtp_ticks,
                        &mut self.wire,
                    )
                    .ok()
            } else {
                self.sender.skip(self.rtp_ticks);
                None
            };
        if let Some(len) = len
            && self.rtp.try_send_to(&self.wire[..len], dest).is_ok()
        {
            MediaStats::bump(&self.stats.rtp_sent);
        }
        agent
    }

    fn send_rtcp(&mut self, now: Instant) {
        let dest = if self.cfg.rtcp_mux {
            self.destination()
        } else {
            self.rtcp_latched.or(self.cfg.remote_rtcp).or_else(|| {
                self.destination()
                    .map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1)))
            })
        };
        let Some(dest) = dest else { return };
        let js = self.jitter.stats();
        let blocks: Vec<_> = match self.remote_ssrc {
            Some(ssrc) if js.received > 0 => vec![self.reception.report_block(
                ssrc,
                js.base_seq,
                js.highest_seq,
                js.received,
                self.jitter.jitter_ts(),
                now.into_std(),
            )],
            _ => Vec::new(),
        };
        let sender = (self.sender.packets_sent() > 0).then(|| SenderInfo {
            ntp_time: ntp_now(),
            rtp_time: self.sender.last_timestamp(),
            packet_count: self.sender.packets_sent() as u32,
            octet_count: self.sender.octets_sent() as u32,
        });
        let report = Report {
            ssrc: self.sender.ssrc(),
            sender,
            blocks: &blocks,
            cname: &self.cfg.cname,
        };
        let mut buf = [0u8; 512];
        if let Ok(n) = rtcp::write_report(&report, &mut buf) {
            let socket = if self.cfg.rtcp_mux {
                &self.rtp
            } else {
                &self.rtcp
            };
            if socket.try_send_to(&buf[..n], dest).is_ok() {
                MediaStats::bump(&self.stats.rtcp_sent);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_recording_channel_keeps_the_calls_clock() {
        let t0 = std::time::Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut tl = RecTimeline::new(t0, 160);
        // The caller's frames arrive in pairs every 40 ms (ticks on the agent's
        // grid, half a frame off the caller's), the agent's one per tick: each
        // frame still lands in its own slot, for 10 s.
        let mut t = 5;
        for k in 0..250u64 {
            assert_eq!(tl.place(Channel::Agent, ms(t)), (t / 20) * 160);
            if k % 2 == 1 {
                assert_eq!(tl.place(Channel::Caller, ms(t - 20)), ((t - 20) / 20) * 160);
                assert_eq!(tl.place(Channel::Caller, ms(t)), (t / 20) * 160);
            }
            t += 20;
        }
        // Two frames in one slot: the second goes right after the first.
        let mut tl = RecTimeline::new(t0, 160);
        assert_eq!(tl.place(Channel::Caller, ms(3)), 0);
        assert_eq!(tl.place(Channel::Caller, ms(15)), 160);
        assert_eq!(tl.place(Channel::Caller, ms(41)), 320);
        assert_eq!(
            tl.place(Channel::Agent, ms(41)),
            320,
            "channels are independent"
        );
        // Ticks jittering around slot boundaries (19.9 ms, 40.1 ms, ...): a
        // steady voice is written without holes.
        let mut tl = RecTimeline::new(t0, 160);
        let us = |n: u64| t0 + Duration::from_micros(n);
        for k in 1..=200u64 {
            let at = if k % 2 == 0 {
                20_000 * k + 100
            } else {
                20_000 * k - 100
            };
            assert_eq!(tl.place(Channel::Agent, us(at)), (k - 1) * 160, "frame {k}");
        }
        // A real pause stays a pause: after 200 ms without audio, the next
        // frame goes where the clock says.
        assert_eq!(tl.place(Channel::Agent, ms(4_200)), 210 * 160);
    }

    #[test]
    fn the_playout_clock_counts_every_frame_a_late_tick_missed() {
        let t0 = std::time::Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut clock = PlayoutClock::default();
        assert_eq!(clock.due(ms(0)), 1, "the first tick plays a frame");
        assert_eq!(clock.due(ms(20)), 1);
        assert_eq!(clock.due(ms(27)), 0, "an early tick waits");
        assert_eq!(clock.due(ms(41)), 1);
        // Starved for 100 ms: the frames due at 60, 80, 100, 120 and 140.
        assert_eq!(clock.due(ms(141)), 5);
        assert_eq!(clock.due(ms(160)), 1);
        // Ticks running 5 ms slow (a loaded machine) still play one frame per
        // 20 ms of wall time: 50 ticks over 1.25 s play 63 frames, not 50.
        let played: u32 = (1..=50).map(|k| clock.due(ms(160 + 25 * k))).sum();
        assert_eq!(played, 63);
        // A stall longer than the reorder window catches up that far, then
        // restarts the clock from now.
        assert_eq!(clock.due(ms(5000)), MAX_CATCH_UP);
        assert_eq!(clock.due(ms(5020)), 1);
    }
}
