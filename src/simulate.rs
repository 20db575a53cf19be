//! `systole simulate`: the scheduler on a CIB file, printed as crm_simulate does.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The CIB (Pacemaker XML) to schedule.
    #[arg(long)]
    pub cib: PathBuf,
}

pub fn run(args: &SimulateArgs) -> anyhow::Result<i32> {
    anyhow::bail!("simulate is not built yet ({})", args.cib.display())
}
