//! The transcript publisher and the CRM writer: children of the call supervisor
//! that read the call's event log by cursor and write to the store. A restarted
//! reader resumes at the cursor its sink last recorded, so no event is lost.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::log::{CallEvent, CallStore, EventLog, StoreFailure, ToolRecord};
use crate::realtime::BridgeEvent;
use crate::sip::CallId;

/// Which reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderKind {
    /// Transcript segments and interim text, tool calls, key presses,
    /// barge-ins, latency and usage.
    Transcript,
    /// Verdict and summary (the lead's CRM record).
    Crm,
}

impl ReaderKind {
    fn name(self) -> &'static str {
        match self {
            ReaderKind::Transcript => "transcript",
            ReaderKind::Crm => "crm",
        }
    }
}

/// A reader actor.
#[derive(Debug)]
pub struct Reader;

/// Reader messages.
#[derive(Debug)]
pub enum ReaderMsg {
    /// New events may be in the log.
    Poll,
    /// Poll, then reply (the supervisor drains readers before it stops).
    Drain(ractor::RpcReplyPort<()>),
    /// Test hook: fail on the next poll (supervision tests).
    Crash,
}

/// What a reader reads and writes.
#[derive(Debug, Clone)]
pub struct ReaderArgs {
    /// Which reader.
    pub kind: ReaderKind,
    /// The call.
    pub call: CallId,
    /// Its log.
    pub log: Arc<EventLog>,
    /// Where to write.
    pub store: Arc<dyn CallStore>,
}

impl Actor for Reader {
    type Msg = ReaderMsg;
    type State = ReaderArgs;
    type Arguments = ReaderArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ReaderMsg>,
        args: ReaderArgs,
    ) -> Result<ReaderArgs, ActorProcessingErr> {
        // Catch up at once (a restart may have missed polls).
        let _ = myself.send_message(ReaderMsg::Poll);
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<ReaderMsg>,
        msg: ReaderMsg,
        s: &mut ReaderArgs,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ReaderMsg::Crash => Err("reader crashed on request".into()),
            ReaderMsg::Poll => Ok(poll(s).await?),
            ReaderMsg::Drain(reply) => {
                let polled = poll(s).await;
                let _ = reply.send(());
                Ok(polled?)
            }
        }
    }
}

async fn poll(s: &ReaderArgs) -> Result<(), StoreFailure> {
    let name = s.kind.name();
    let cursor = s.store.cursor(s.call, name).await?;
    for (seq, ev) in s.log.since(cursor) {
        write(s, seq, ev).await?;
        s.store.set_cursor(s.call, name, seq).await?;
    }
    Ok(())
}

async fn write(s: &ReaderArgs, seq: u64, ev: CallEvent) -> Result<(), StoreFailure> {
    let ev = match (s.kind, ev) {
        (ReaderKind::Transcript, CallEvent::Dtmf(d)) => return s.store.dtmf(s.call, seq, d).await,
        (_, CallEvent::Bridge(ev)) => ev,
        _ => return Ok(()),
    };
    match (s.kind, ev) {
        (
            ReaderKind::Transcript,
            BridgeEvent::TranscriptDelta {
                speaker,
                item_id,
                delta,
            },
        ) => {
            s.store.delta(s.call, speaker, item_id, delta);
            Ok(())
        }
        (ReaderKind::Transcript, BridgeEvent::BargeIn { item_id, played_ms }) => {
            s.store.barge_in(s.call, seq, item_id, played_ms).await
        }
        (ReaderKind::Transcript, BridgeEvent::Segment(seg)) => s.store.segment(s.call, seg).await,
        (
            ReaderKind::Transcript,
            BridgeEvent::ToolCall {
                name,
                arguments,
                output,
                failed,
            },
        ) => {
            s.store
                .tool_call(
                    s.call,
                    seq,
                    ToolRecord {
                        name,
                        arguments,
                        output,
                        failed,
                    },
                )
                .await
        }
        (ReaderKind::Transcript, BridgeEvent::Latency { kind, ms }) => {
            s.store.latency(s.call, seq, kind, ms).await
        }
        (ReaderKind::Transcript, BridgeEvent::Usage(u)) => s.store.usage(s.call, u).await,
        (ReaderKind::Crm, BridgeEvent::Verdict(v)) => s.store.verdict(s.call, seq, v).await,
        (ReaderKind::Crm, BridgeEvent::Summary(text)) => s.store.summary(s.call, text).await,
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::log::MemoryStore;
    use crate::realtime::Speaker;
    use crate::sip::HungUpBy;

    #[tokio::test]
    async fn readers_store_key_presses_barge_ins_and_interim_text_once() {
        let log = Arc::new(EventLog::default());
        log.push(CallEvent::Answered);
        log.push(CallEvent::Bridge(BridgeEvent::TranscriptDelta {
            speaker: Speaker::Agent,
            item_id: "item1".into(),
            delta: "Hel".into(),
        }));
        log.push(CallEvent::Dtmf('5'));
        log.push(CallEvent::Bridge(BridgeEvent::BargeIn {
            item_id: "item1".into(),
            played_ms: 1_240,
        }));
        log.push(CallEvent::Ended {
            by: HungUpBy::Them,
            cause: None,
        });
        let store = Arc::new(MemoryStore::default());
        let call = CallId(7);
        for kind in [ReaderKind::Transcript, ReaderKind::Crm] {
            let args = ReaderArgs {
                kind,
                call,
                log: log.clone(),
                store: store.clone(),
            };
            poll(&args).await.expect("poll");
        }
        // A restarted reader resumes at its cursor: nothing twice.
        let again = ReaderArgs {
            kind: ReaderKind::Transcript,
            call,
            log: log.clone(),
            store: store.clone(),
        };
        poll(&again).await.expect("poll again");
        let stored = store.get(call).expect("stored");
        assert_eq!(stored.dtmf, ['5']);
        assert_eq!(stored.barge_ins, [("item1".to_owned(), 1_240)]);
        assert_eq!(
            stored.deltas,
            [(Speaker::Agent, "item1".to_owned(), "Hel".to_owned())]
        );
    }
}
