//! `systole crm-attribute`: Pacemaker's `crm_attribute` (and, with
//! `--promotion`, `crm_master`) for resource agents, so agents that publish
//! promotion scores or node attributes run unmodified.
//!
//! Supported: `-n/--name`, `-v/--update/--attr-value VALUE`, `-D/--delete`,
//! `-G/--query`, `-N/--node`, `-l/--lifetime reboot|forever`,
//! `-t/--type status|nodes`, `-p/--promotion [RSC]`, `-q/-Q/--quiet`.

use crate::actors::message::CibChange;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Set(String),
    Delete,
    Query,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeRequest {
    pub node: String,
    pub name: String,
    /// Transient (status, until the node leaves) or permanent (nodes).
    pub transient: bool,
    pub action: Action,
    pub quiet: bool,
}

impl AttributeRequest {
    /// The CIB change this request makes (None for a query).
    pub fn change(&self) -> Option<CibChange> {
        let value = match &self.action {
            Action::Set(v) => Some(v.clone()),
            Action::Delete => None,
            Action::Query => return None,
        };
        Some(if self.transient {
            CibChange::SetTransientAttribute {
                node: self.node.clone(),
                name: self.name.clone(),
                value,
            }
        } else {
            CibChange::SetNodeAttribute {
                node: self.node.clone(),
                name: self.name.clone(),
                value,
            }
        })
    }
}

/// Parses crm_attribute's arguments. `env` gives SYSTOLE_NODE and
/// OCF_RESOURCE_INSTANCE (for `--promotion` without a resource).
pub fn parse(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AttributeRequest, String> {
    let mut options = Options {
        node: env("SYSTOLE_NODE"),
        ..Options::default()
    };
    let mut i = 0;
    while i < args.len() {
        i = options.read(args, i)? + 1;
    }
    let mut name = options.name;
    let mut transient = options.transient;
    if let Some(resource) = options.promotion {
        let resource = resource
            .or_else(|| env("OCF_RESOURCE_INSTANCE"))
            .ok_or("--promotion needs a resource (or OCF_RESOURCE_INSTANCE)")?;
        // Anonymous clone instances share one score: db:0 -> db.
        let base = resource.split(':').next().unwrap_or(&resource).to_string();
        name = Some(format!("master-{base}"));
        transient.get_or_insert(true);
    }
    Ok(AttributeRequest {
        node: options
            .node
            .ok_or("no node: give -N NODE (or run under a Systole executor)")?,
        name: name.ok_or("no attribute name: give -n NAME")?,
        transient: transient.unwrap_or(false),
        action: options
            .action
            .ok_or("nothing to do: give -v VALUE, -D or -G")?,
        quiet: options.quiet,
    })
}

/// crm_attribute's options as given, before defaults apply.
#[derive(Default)]
struct Options {
    name: Option<String>,
    node: Option<String>,
    transient: Option<bool>,
    action: Option<Action>,
    quiet: bool,
    /// `--promotion`, with its resource if one was named.
    promotion: Option<Option<String>>,
}

impl Options {
    /// Reads the option at `args[i]` (and its value): the index of the last
    /// argument it took.
    fn read(&mut self, args: &[String], mut i: usize) -> Result<usize, String> {
        let arg = args[i].as_str();
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg, None),
        };
        let take = |i: &mut usize| match &inline {
            Some(v) => Ok(v.clone()),
            None => {
                *i += 1;
                args.get(*i)
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value"))
            }
        };
        match flag {
            "-n" | "--name" => self.name = Some(take(&mut i)?),
            "-v" | "--update" | "--attr-value" => self.action = Some(Action::Set(take(&mut i)?)),
            "-D" | "--delete" | "--delete-attr" => self.action = Some(Action::Delete),
            "-G" | "--query" | "--get-value" => self.action = Some(Action::Query),
            "-N" | "--node" => self.node = Some(take(&mut i)?),
            "-l" | "--lifetime" => {
                self.transient = Some(match take(&mut i)?.as_str() {
                    "reboot" => true,
                    "forever" => false,
                    other => return Err(format!("unknown lifetime {other} (reboot or forever)")),
                })
            }
            "-t" | "--type" => {
                self.transient = Some(match take(&mut i)?.as_str() {
                    "status" => true,
                    "nodes" => false,
                    other => return Err(format!("unsupported --type {other} (status or nodes)")),
                })
            }
            "-p" | "--promotion" => {
                let resource = match (&inline, args.get(i + 1)) {
                    (Some(v), _) => Some(v.clone()),
                    (None, Some(next)) if !next.starts_with('-') => {
                        i += 1;
                        Some(next.clone())
                    }
                    _ => None,
                };
                self.promotion = Some(resource);
            }
            "-q" | "-Q" | "--quiet" => self.quiet = true,
            other => return Err(format!("unsupported option {other}")),
        }
        Ok(i)
    }
}

/// Reads an attribute from a CIB (for `-G`), as the scheduler reads it:
/// rule-guarded sets at `now_epoch_s`.
pub fn query(
    cib: &crate::model::cib::xml::Element,
    request: &AttributeRequest,
    now_epoch_s: i64,
) -> Option<String> {
    let holder = if request.transient {
        cib.child("status")?
            .children_named("node_state")
            .find(|n| n.attr("uname") == Some(request.node.as_str()))?
            .child("transient_attributes")?
    } else {
        cib.child("configuration")?
            .child("nodes")?
            .children_named("node")
            .find(|n| n.attr("uname") == Some(request.node.as_str()))?
    };
    crate::model::cib::nvpairs::instance_attributes(cib, holder, now_epoch_s).remove(&request.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(key: &str) -> Option<String> {
        match key {
            "SYSTOLE_NODE" => Some("n2".into()),
            "OCF_RESOURCE_INSTANCE" => Some("db:1".into()),
            _ => None,
        }
    }

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn crm_master_style_promotion_scores() {
        let request = parse(&args("--promotion -l reboot -v 10"), &env).unwrap();
        assert_eq!(request.node, "n2");
        assert_eq!(request.name, "master-db");
        assert!(request.transient);
        assert_eq!(
            request.change(),
            Some(CibChange::SetTransientAttribute {
                node: "n2".into(),
                name: "master-db".into(),
                value: Some("10".into())
            })
        );
        let delete = parse(&args("-p -l reboot -D"), &env).unwrap();
        assert_eq!(delete.action, Action::Delete);
        assert!(parse(&args("-p web -G -q"), &env).unwrap().name == "master-web");
    }

    #[test]
    fn plain_attributes_and_errors() {
        let request = parse(&args("--name=site --update=east -N n1 -l forever"), &env).unwrap();
        assert!(!request.transient);
        assert_eq!(request.node, "n1");
        assert_eq!(request.action, Action::Set("east".into()));
        assert!(parse(&args("-n x"), &env)
            .unwrap_err()
            .contains("nothing to do"));
        assert!(parse(&args("-v 1"), &env).unwrap_err().contains("name"));
        assert!(parse(&args("-n x -v"), &env)
            .unwrap_err()
            .contains("needs a value"));
        assert!(parse(&args("-n x -v 1 -l sometimes"), &env).is_err());
        assert!(parse(&args("-n x -v 1 --frobnicate"), &env)
            .unwrap_err()
            .contains("unsupported"));
    }

    #[test]
    fn queries_read_the_cib() {
        let mut cib = crate::model::cib::store::empty_cib();
        let request = parse(&args("-p -l reboot -v 7"), &env).unwrap();
        crate::model::cib::store::apply_change(&mut cib, &request.change().unwrap()).unwrap();
        let query_request = parse(&args("-p -l reboot -G"), &env).unwrap();
        assert_eq!(query(&cib, &query_request, 0), Some("7".into()));
    }
}
