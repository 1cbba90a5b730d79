//! A paced round: one call per item (a number, a template), spread over the interval at
//! most at the operation's rate, as every per-item collector runs it.
//!
//! The quotas of the per-item operations are shared with production traffic (cams-api.md
//! §7, §9), so a round never bursts: call `i` waits for `start + i·spacing`
//! ([`super::RoundPlan`]), and a round that cannot fit in the interval takes longer instead
//! of going faster. A failure that affects every call (throttling, credentials, an outage)
//! ends the round; one that concerns one item (a rejected or garbled answer) costs only that
//! item. What a long round has learned is served as it goes, at most every
//! [`PROGRESS_EVERY`], and a failed round still serves what it did learn.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{CollectError, Collected, Ctx, Operation, RoundPlan};
use crate::api::ApiError;

/// A round serves what it learned so far at most this often (a round of 2,000 numbers
/// takes over 16 minutes; rendering after every call would cost a rendering per call).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Why [`Round::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The next call's slot has come.
    Slot,
    /// Another collector of the account published meanwhile; the slot is still ahead.
    Inputs,
}

/// One round in progress (see the module documentation).
#[derive(Debug)]
pub struct Round<'c> {
    ctx: &'c Ctx<'c>,
    action: &'static str,
    plan: RoundPlan,
    start: Instant,
    next: u32,
    failure: Option<CollectError>,
    last_progress: Option<Instant>,
}

impl<'c> Ctx<'c> {
    /// Starts a round of `calls` calls of `op`, planned and recorded with
    /// [`Ctx::plan_round`].
    pub fn round(&'c self, op: &Operation, calls: usize) -> Round<'c> {
        self.round_over(op, calls, self.interval)
    }

    /// [`Ctx::round`] spread over `over` instead of the whole interval.
    pub fn round_over(&'c self, op: &Operation, calls: usize, over: Duration) -> Round<'c> {
        Round {
            ctx: self,
            action: op.action,
            plan: self.plan_round_over(op, calls, over),
            start: Instant::now(),
            next: 0,
            failure: None,
            last_progress: None,
        }
    }
}

impl Round<'_> {
    /// The plan: spacing and length.
    pub fn plan(&self) -> RoundPlan {
        self.plan
    }

    /// Waits for the next call's slot. With `inputs`, returns [`Wake::Inputs`] early when
    /// another collector of the account publishes, so that the caller can follow (a number
    /// gone from the list loses its series at once); the slot stays ahead.
    pub async fn wait(&mut self, inputs: Option<&mut watch::Receiver<u64>>) -> Wake {
        let slot = self.start + self.plan.spacing.saturating_mul(self.next);
        if let Some(inputs) = inputs {
            tokio::select! {
                _ = tokio::time::sleep_until(slot) => {}
                changed = inputs.changed() => {
                    if changed.is_ok() {
                        return Wake::Inputs;
                    }
                    // The account is gone; its task ends soon. Keep the pace meanwhile.
                    tokio::time::sleep_until(slot).await;
                }
            }
        } else {
            tokio::time::sleep_until(slot).await;
        }
        self.next = self.next.saturating_add(1);
        Wake::Slot
    }

    /// Records a failed call; true when the round must stop because the failure affects
    /// every call (the scheduler then backs off).
    pub fn failed(&mut self, item: &str, e: ApiError) -> bool {
        let stop = e.kind().stops_round();
        tracing::debug!(operation = self.action, item, code = %e.code_label(), "call failed");
        self.failure.get_or_insert(e.into());
        stop
    }

    /// True when what the round learned is to be served now: after its first answer, then
    /// at most every [`PROGRESS_EVERY`].
    pub fn progress_due(&mut self) -> bool {
        let due = self
            .last_progress
            .is_none_or(|t| t.elapsed() >= PROGRESS_EVERY);
        if due {
            self.last_progress = Some(Instant::now());
        }
        due
    }

    /// Ends the round with what it learned: `collected`, or after a failed call the first
    /// failure, with `collected` served all the same.
    pub fn finish(self, collected: Collected) -> Result<Collected, CollectError> {
        match self.failure {
            None => Ok(collected),
            Some(e) => {
                self.ctx.publish_progress(collected);
                Err(e)
            }
        }
    }
}
