//! The operator's side: what the `systole` binary does besides running a
//! node. The clap grammar and its glue live in `main.rs`; these modules hold
//! the commands' substance: text output, the local cluster and the demo,
//! `simulate` and `explain`, and the tools resource agents call.

pub mod agent_tools;
pub mod crm_attribute;
pub mod demo;
pub mod explain;
pub mod localcluster;
pub mod report;
pub mod simulate;
pub mod status_text;
