//! `systole cib ...`: export, verify, import, and shadow CIBs.

use anyhow::{bail, Context};
use std::path::Path;

use crate::actors::control_socket::{ControlRequest, ControlResponse};
use crate::admin;
use crate::cli::args::{CibAction, ShadowAction, Target};
use crate::cli::simulate::SimulateArgs;
use crate::cli::target::{ask, commit_edit, current_cib, live_cib, now_epoch_s, shadow_dir};
use crate::model::cib::diff;
use crate::model::cib::xml::Element;
use crate::os::shadow;

/// `systole simulate`, on a CIB file or (`--shadow NAME`) a shadow.
pub fn simulate(target: &Target, mut args: SimulateArgs) -> anyhow::Result<i32> {
    if let Some(name) = &target.shadow {
        let dir = shadow_dir(target);
        shadow::load(&dir, name)?;
        args.cib = shadow::path(&dir, name);
    }
    crate::cli::simulate::run(&args)
}

pub fn command(target: &Target, action: CibAction) -> anyhow::Result<i32> {
    match action {
        CibAction::Export { xml: _, consistent } => match &target.shadow {
            Some(_) => print!("{}", current_cib(target)?.to_xml_pretty()),
            None => match ask(
                target,
                if consistent {
                    ControlRequest::CibGetConsistent
                } else {
                    ControlRequest::CibGet
                },
            )? {
                ControlResponse::Cib { xml } => print!("{xml}"),
                other => bail!("unexpected answer {other:?}"),
            },
        },
        CibAction::Verify { file } => {
            let cib = match file {
                Some(file) => Element::parse(&read_cib_file(&file)?)
                    .with_context(|| format!("parsing {}", file.display()))?,
                None => current_cib(target)?,
            };
            let issues = crate::model::cib::verify::verify(&cib, now_epoch_s());
            for issue in &issues {
                println!("{issue}");
            }
            return Ok(i32::from(issues.iter().any(|i| i.is_error())));
        }
        CibAction::Import { file, merge } => {
            let text = read_cib_file(&file)?;
            let cib = current_cib(target)?;
            return commit_edit(target, admin::cib_import(&cib, &text, merge)?);
        }
        CibAction::Shadow { action } => return shadow_command(target, action),
    }
    Ok(0)
}

/// A CIB file's text, refused before it is read when over the size limit
/// (a 200 MB file must not cost gigabytes) or when it is not a regular file.
fn read_cib_file(file: &Path) -> anyhow::Result<String> {
    use std::io::Read;
    let limit = crate::model::cib::verify::CIB_BYTES_MAX;
    let meta = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", file.display());
    }
    if meta.len() > limit as u64 {
        bail!(
            "{} is {} bytes, over CIB_BYTES_MAX = {limit} bytes; refused",
            file.display(),
            meta.len()
        );
    }
    let mut text = String::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(limit as u64 + 1).read_to_string(&mut text))
        .with_context(|| format!("reading {}", file.display()))?;
    if text.len() > limit {
        bail!(
            "{} grew over CIB_BYTES_MAX = {limit} bytes while read; refused",
            file.display()
        );
    }
    Ok(text)
}

fn shadow_command(target: &Target, action: ShadowAction) -> anyhow::Result<i32> {
    let dir = shadow_dir(target);
    match action {
        ShadowAction::Create { name, force } => {
            let live = live_cib(target)?;
            let file = shadow::create(&dir, &name, &live, force)?;
            let v = crate::model::cib::store::version(&live);
            println!(
                "created shadow {name} from the live CIB (version {v}) at {}; edit it with `--shadow {name}`",
                file.display()
            );
        }
        ShadowAction::Diff { name } => {
            let shadow_cib = shadow::load(&dir, &name)?;
            let live = live_cib(target)?;
            let changes = diff::diff(
                &admin::configuration_of(&live),
                &admin::configuration_of(&shadow_cib),
            );
            if changes.is_empty() {
                println!("shadow {name} has the live configuration");
            } else {
                print!("{}", diff::render(&changes));
            }
        }
        ShadowAction::Commit { name, force } => {
            let change = shadow::commit_change(&dir, &name, force)?;
            match ask(target, ControlRequest::CibModify { change }) {
                Ok(ControlResponse::Done(text)) => {
                    println!("committed shadow {name}: its configuration is live ({text})")
                }
                Ok(other) => bail!("unexpected answer {other:?}"),
                Err(error) => bail!("commit of shadow {name} refused: {error}"),
            }
        }
        ShadowAction::Export { name } => print!("{}", shadow::load(&dir, &name)?.to_xml_pretty()),
        ShadowAction::Delete { name } => {
            shadow::delete(&dir, &name)?;
            println!("deleted shadow {name}");
        }
        ShadowAction::List => {
            let names = shadow::list(&dir);
            if names.is_empty() {
                println!("no shadows in {}", dir.display());
            }
            for name in names {
                println!("{name}");
            }
        }
    }
    Ok(0)
}
