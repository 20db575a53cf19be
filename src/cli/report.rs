//! `systole report`'s bundle: what the asked node gathered
//! ([`crate::actors::report`]) written as one gzipped tarball, as crm_report
//! writes one.

use crate::actors::report::Report;
use std::io::Write;

fn append(
    builder: &mut tar::Builder<impl Write>,
    path: &str,
    bytes: &[u8],
    mtime: i64,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(mtime.max(0) as u64);
    header.set_cksum();
    builder.append_data(&mut header, path, bytes)
}

/// The report as a gzipped tarball, every member under `dir/`.
pub fn tarball(report: &Report, dir: &str) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    let now = report.to_epoch_s;
    let mut members: Vec<(String, Vec<u8>)> = vec![
        ("README.txt".into(), readme(report).into_bytes()),
        ("cib.xml".into(), report.cib_xml.clone().into_bytes()),
        (
            "history.json".into(),
            serde_json::to_vec_pretty(&report.history).unwrap_or_default(),
        ),
        (
            "status.txt".into(),
            crate::cli::status_text::render(&report.status).into_bytes(),
        ),
    ];
    for part in &report.parts {
        members.push((
            format!("{}/systole.toml", part.node),
            part.config.clone().into_bytes(),
        ));
        members.push((
            format!("{}/systole.log", part.node),
            part.log.clone().into_bytes(),
        ));
    }
    for (name, bytes) in members {
        append(&mut builder, &format!("{dir}/{name}"), &bytes, now)?;
    }
    builder.into_inner()?.finish()
}

fn readme(report: &Report) -> String {
    let time = crate::model::cib::time::ctime;
    let mut text = format!(
        "Systole report from {} to {} (UTC), asked of {}.\n\n\
         cib.xml        the CIB (configuration and status)\n\
         history.json   the transitions the DCs ran\n\
         status.txt     systole status\n\
         NODE/systole.toml  each node's settings (the authkey is not included)\n\
         NODE/systole.log   each node's log lines of the window\n\nNodes:\n",
        time(report.from_epoch_s),
        time(report.to_epoch_s),
        report.asked
    );
    for part in &report.parts {
        text.push_str(&format!(
            "  {}: log from {}, {} lines\n",
            part.node,
            part.log_source,
            part.log.lines().count()
        ));
    }
    for (node, why) in &report.missing {
        text.push_str(&format!("  {node}: no answer ({why})\n"));
    }
    text
}
