//! `systole report`'s bundle: what the asked node gathered
//! ([`crate::actors::report`]) written as one gzipped tarball, as crm_report
//! writes one.

use anyhow::{bail, Context};
use std::io::Write;
use std::path::PathBuf;

use crate::actors::control_socket::{self, ControlRequest, ControlResponse};
use crate::actors::report::Report;
use crate::cli::args::Target;
use crate::cli::target::{now_epoch_s, resolve_socket};

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

/// A report window's end: a date-time, epoch seconds or `-DURATION` ago.
fn report_time(text: &str, now_epoch_s: i64) -> anyhow::Result<i64> {
    if let Some(ago) = text.strip_prefix('-') {
        let ms = crate::model::cib::time::read_duration_ms(ago)?;
        return Ok(now_epoch_s - (ms / 1000) as i64);
    }
    Ok(crate::model::cib::time::read_datetime(text)?)
}

pub fn command(
    target: &Target,
    from: &str,
    to: Option<&str>,
    out: Option<PathBuf>,
) -> anyhow::Result<i32> {
    let now = now_epoch_s();
    let from_epoch_s = report_time(from, now).context("--from")?;
    let to_epoch_s = match to {
        Some(to) => report_time(to, now).context("--to")?,
        None => now,
    };
    if from_epoch_s > to_epoch_s {
        bail!("--from is after --to: the window is empty");
    }
    let socket = resolve_socket(target)?;
    let request = ControlRequest::Report {
        from_epoch_s,
        to_epoch_s,
    };
    let report = match control_socket::call(&socket, &request, 90_000)? {
        ControlResponse::Report(report) => report,
        ControlResponse::Error(error) => bail!("{error}"),
        other => bail!("unexpected answer {other:?}"),
    };
    let stamp = crate::admin::iso8601(now).replace([':', '-'], "");
    let name = format!("systole-report-{}", stamp.trim_end_matches('Z'));
    let path = out.unwrap_or_else(|| PathBuf::from(format!("{name}.tar.gz")));
    let bytes = tarball(&report, &name)?;
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    println!(
        "wrote {}: CIB, {} transitions, {} nodes' settings and logs",
        path.display(),
        report.history.len(),
        report.parts.len()
    );
    for (node, why) in &report.missing {
        println!("  {node} did not answer: {why}");
    }
    Ok(0)
}
