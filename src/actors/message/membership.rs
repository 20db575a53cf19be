//! What the membership and bus actors are asked.

use super::request;
use crate::actors::report::ReportPart;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MembershipRequest {
    Report(ReportQuery),
}

/// `systole report`: a node's settings and log lines of a window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportQuery {
    pub from_epoch_s: i64,
    pub to_epoch_s: i64,
}
request!(ReportQuery: Membership(MembershipRequest::Report) -> ReportPart(ReportPart));

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum BusRequest {
    Stats(BusStatsQuery),
}

/// The bus's counters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BusStatsQuery;
request!(BusStatsQuery: Bus(BusRequest::Stats) -> BusStats(String));
