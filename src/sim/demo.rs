//! The `--demo` backend: the demo world ([`crate::collect::demo`]) on a clock, answered by
//! each collector's own demo answers, with the gateway's throttling on top.
//!
//! Each action goes to the responder its operation declares ([`crate::collect::Operation`]),
//! so a new collector's demo answers need no change here. What the gateway does around them
//! is here: every fifth request of a refresh collector's operation to `demo-travel` is
//! throttled (`Throttling.User`), as a busy shared quota would; the per-item operations have
//! quotas of their own (cams-api.md §7, §9).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::{Backend, Reply, SimKey, SimRequest, SimResponse};
use crate::collect::Schedule;
use crate::collect::demo::{DemoWorld, Space};

pub use crate::collect::demo::{CYCLE, TRAVEL_SPACE};

/// The demo's AccessKey ID (fictional).
pub const DEMO_ACCESS_KEY_ID: &str = "LTAI5tDemoKeyNotReal01";
/// The demo's AccessKey secret (fictional; only the simulator knows it).
pub const DEMO_ACCESS_KEY_SECRET: &str = "demo-secret-not-a-real-key";
/// The first demo account (no `CustSpaceId`).
pub const RETAIL: &str = "demo-retail";
/// The second demo account, an ISV sub-customer.
pub const TRAVEL: &str = "demo-travel";
/// The demo's ISV parent, whose customers are discovered.
pub const ISV: &str = "demo-isv";

/// The simulated fleet.
#[derive(Debug)]
pub struct DemoFleet {
    started: Instant,
    extra_numbers: usize,
    extra_accounts: usize,
    travel_requests: AtomicU64,
}

impl DemoFleet {
    /// A fleet starting now, with `extra_numbers` generated numbers in `demo-retail` and
    /// `extra_accounts` generated customers of `demo-isv`.
    pub fn new(extra_numbers: usize, extra_accounts: usize) -> Self {
        DemoFleet {
            started: Instant::now(),
            extra_numbers,
            extra_accounts,
            travel_requests: AtomicU64::new(0),
        }
    }

    /// The keys the simulator accepts.
    pub fn keys() -> HashMap<String, SimKey> {
        HashMap::from([(
            DEMO_ACCESS_KEY_ID.to_owned(),
            SimKey {
                secret: DEMO_ACCESS_KEY_SECRET.to_owned(),
                security_token: None,
            },
        )])
    }

    /// The world now.
    pub fn world(&self) -> DemoWorld {
        DemoWorld::new(self.started.elapsed(), self.extra_numbers)
            .with_extra_accounts(self.extra_accounts)
    }

    /// Counts a request of a refresh collector's operation to `demo-travel`; true when it is
    /// to be throttled.
    fn throttled(&self, world: &DemoWorld, request: &SimRequest, schedule: Schedule) -> bool {
        world.space(request) == Space::Travel
            && schedule == Schedule::Refresh
            && (self.travel_requests.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(5)
    }
}

impl Backend for DemoFleet {
    fn respond(&self, request: &SimRequest) -> SimResponse {
        match self.reply(request) {
            Reply::Response(r) => r,
            Reply::Streamed(_) => SimResponse::error(
                500,
                "InternalError",
                "demo backend: a streamed answer asked for whole",
            ),
        }
    }

    fn reply(&self, request: &SimRequest) -> Reply {
        // The simulator answered an undeclared action already; this is a second guard.
        let Some((spec, operation)) = crate::collect::operation(&request.action) else {
            return SimResponse::error(
                404,
                "InvalidApi.NotFound",
                "Specified api is not found, please check your url and method.",
            )
            .into();
        };
        let world = self.world();
        if self.throttled(&world, request, spec.schedule) {
            return SimResponse::error(
                400,
                "Throttling.User",
                "Request was denied due to user flow control.",
            )
            .into();
        }
        (operation.demo)(&world, request)
    }
}
