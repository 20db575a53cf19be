//! Who may use the control socket and what the CIB ACLs let them read and
//! write.

use crate::actors::control_socket::{Access, Caller};
use crate::model::cib::acl;
use crate::model::cib::xml::Element;

/// Refuses a change that would touch anything the ACL does not let the
/// caller write. Checked against this node's copy of the CIB; a change that
/// does not apply to it is refused too, since what it would touch cannot be
/// known (it cannot slip past the check that way).
pub fn check_acl_write(
    cib: &Element,
    change: &crate::actors::message::CibChange,
    acl: &acl::UserAcl,
) -> Result<(), String> {
    let mut next = cib.clone();
    if let Err(error) = crate::model::cib::store::apply_change(&mut next, change) {
        return Err(format!("refused: {error}"));
    }
    // Version and change-stamp attributes on <cib> always move; they are
    // not the caller's edit.
    let stamp = crate::model::cib::store::CHANGE_STAMP_ATTRS;
    for key in ["admin_epoch", "epoch", "num_updates"]
        .into_iter()
        .chain(stamp)
    {
        match cib.attr(key) {
            Some(v) => next.set_attr(key, v),
            None => {
                next.remove_attr(key);
            }
        }
    }
    acl.check_write(cib, &next)
}

/// Who may use the control socket, from the node configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessPolicy {
    /// The daemon's own effective uid.
    pub own_uid: u32,
    pub admin_gid: Option<u32>,
    pub readonly_gid: Option<u32>,
}

/// What `caller` (with supplementary `groups`) may do: root, the daemon's
/// own user and members of the admin group change anything; members of the
/// read-only group read. Anyone else is refused when either group is
/// configured, and may read when none is (a local test cluster).
pub fn access(policy: &AccessPolicy, caller: &Caller, groups: &[u32]) -> Access {
    let member = |gid: Option<u32>| gid.is_some_and(|g| caller.gid == g || groups.contains(&g));
    if caller.uid == 0 || caller.uid == policy.own_uid || member(policy.admin_gid) {
        Access::Admin
    } else if member(policy.readonly_gid) {
        Access::ReadOnly
    } else if policy.admin_gid.is_some() || policy.readonly_gid.is_some() {
        Access::Denied
    } else {
        Access::ReadOnly
    }
}

/// Whether `caller` may change the cluster: root, the daemon's own user, or
/// a member of the configured admin group.
pub fn may_mutate(caller: &Caller, admin_gid: Option<u32>) -> bool {
    let policy = AccessPolicy {
        own_uid: unsafe { libc::geteuid() },
        admin_gid,
        readonly_gid: None,
    };
    access(&policy, caller, &caller_groups(caller)) == Access::Admin
}

/// The caller's supplementary groups, from /proc (empty if unknown).
pub fn caller_groups(caller: &Caller) -> Vec<u32> {
    let Some(pid) = caller.pid else {
        return Vec::new();
    };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("Groups:")).map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .filter_map(|g| g.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// The CIB ACLs that bind `caller`, or `None` when they do not apply:
/// ACLs are off (`enable-acl` unset), or the caller is root or the
/// daemon's own user, who are never restricted.
pub fn acl_for(
    cib: &Element,
    caller_uid: u32,
    own_uid: u32,
    user: &str,
    groups: &[String],
) -> Option<acl::UserAcl> {
    if caller_uid == 0 || caller_uid == own_uid || !acl::enabled(cib) {
        return None;
    }
    Some(acl::UserAcl::for_user(cib, user, groups))
}

/// The caller's user name and group names, for ACLs.
pub(crate) fn identity(caller: &Caller) -> (String, Vec<String>) {
    let user = user_name(caller.uid).unwrap_or_else(|| caller.uid.to_string());
    let mut gids = caller_groups(caller);
    gids.push(caller.gid);
    let groups = gids.into_iter().filter_map(group_name).collect();
    (user, groups)
}

fn user_name(uid: u32) -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

fn group_name(gid: u32) -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 64 * 1024];
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    let rc = unsafe {
        libc::getgrgid_r(
            gid,
            &mut grp,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    let name = unsafe { std::ffi::CStr::from_ptr(grp.gr_name) };
    Some(name.to_string_lossy().into_owned())
}

pub fn group_gid(name: &str) -> Option<u32> {
    let c_name = std::ffi::CString::new(name).ok()?;
    let group = unsafe { libc::getgrnam(c_name.as_ptr()) };
    if group.is_null() {
        None
    } else {
        Some(unsafe { (*group).gr_gid })
    }
}

#[cfg(test)]
mod access_tests {
    use super::*;
    use crate::actors::control_socket::{ResourceReport, StatusReport};
    use crate::actors::message::CibChange;
    use crate::actors::node_status::filter_status;

    fn caller(uid: u32, gid: u32) -> Caller {
        Caller {
            uid,
            gid,
            pid: None,
        }
    }

    #[test]
    fn access_by_uid_and_groups() {
        let open = AccessPolicy {
            own_uid: 500,
            admin_gid: None,
            readonly_gid: None,
        };
        assert_eq!(access(&open, &caller(0, 0), &[]), Access::Admin);
        assert_eq!(access(&open, &caller(500, 500), &[]), Access::Admin);
        assert_eq!(access(&open, &caller(1000, 1000), &[]), Access::ReadOnly);
        let closed = AccessPolicy {
            own_uid: 500,
            admin_gid: Some(10),
            readonly_gid: Some(20),
        };
        assert_eq!(access(&closed, &caller(1000, 10), &[]), Access::Admin);
        assert_eq!(
            access(&closed, &caller(1000, 1000), &[30, 10]),
            Access::Admin
        );
        assert_eq!(
            access(&closed, &caller(1000, 1000), &[20]),
            Access::ReadOnly
        );
        assert_eq!(access(&closed, &caller(1000, 1000), &[30]), Access::Denied);
        assert_eq!(access(&closed, &caller(500, 1000), &[]), Access::Admin);
        let admin_only = AccessPolicy {
            own_uid: 500,
            admin_gid: Some(10),
            readonly_gid: None,
        };
        assert_eq!(
            access(&admin_only, &caller(1000, 1000), &[]),
            Access::Denied
        );
    }

    fn acl_cib() -> Element {
        Element::parse(
            r#"<cib admin_epoch="0" epoch="5" num_updates="0"><configuration>
  <crm_config><cluster_property_set id="cib-bootstrap-options"><nvpair id="cib-bootstrap-options-enable-acl" name="enable-acl" value="true"/></cluster_property_set></crm_config>
  <nodes/><resources><primitive id="web" class="ocf" provider="heartbeat" type="Dummy"/></resources><constraints/>
  <acls>
    <acl_target id="alice"><role id="ops"/></acl_target>
    <acl_role id="ops">
      <acl_permission id="ops-read" kind="read" xpath="/cib"/>
      <acl_permission id="ops-web" kind="write" reference="web"/>
    </acl_role>
  </acls>
</configuration><status/></cib>"#,
        )
        .unwrap()
    }

    #[test]
    fn acls_bind_ordinary_users_only_when_enabled() {
        let cib = acl_cib();
        assert!(acl_for(&cib, 0, 500, "root", &[]).is_none());
        assert!(acl_for(&cib, 500, 500, "hacluster", &[]).is_none());
        assert!(acl_for(&cib, 1000, 500, "alice", &[]).is_some());
        assert!(acl_for(
            &crate::model::cib::store::empty_cib(),
            1000,
            500,
            "alice",
            &[]
        )
        .is_none());
    }

    #[test]
    fn acl_writes_checked_against_the_change() {
        let cib = acl_cib();
        let alice = acl_for(&cib, 1000, 500, "alice", &[]).unwrap();
        let disable = crate::admin::resource_disable(&cib, "web")
            .unwrap()
            .into_change()
            .unwrap();
        assert_eq!(check_acl_write(&cib, &disable, &alice), Ok(()));
        let property = CibChange::SetProperty {
            name: "no-quorum-policy".into(),
            value: Some("ignore".into()),
        };
        let error = check_acl_write(&cib, &property, &alice).unwrap_err();
        assert!(error.contains("no write access"), "{error}");
        let both = CibChange::Batch(vec![disable, property]);
        assert!(check_acl_write(&cib, &both, &alice).is_err());
        let unknown = CibChange::Delete { id: "ghost".into() };
        assert!(check_acl_write(&cib, &unknown, &alice)
            .unwrap_err()
            .contains("ghost"));
        let mut report = StatusReport {
            cluster: "c".into(),
            dc: None,
            quorate: true,
            nodes: vec![],
            resources: ["web", "web:1", "db"]
                .iter()
                .map(|id| ResourceReport {
                    id: id.to_string(),
                    parent: None,
                    agent: "ocf:heartbeat:Dummy".into(),
                    role: "Started".into(),
                    nodes: vec![],
                    failed: false,
                    ..ResourceReport::default()
                })
                .collect(),
            ..StatusReport::default()
        };
        filter_status(&mut report, &alice.filter(&cib));
        assert_eq!(report.resources.len(), 2);
        let mallory = acl_for(&cib, 1001, 500, "mallory", &[]).unwrap();
        filter_status(&mut report, &mallory.filter(&cib));
        assert!(report.resources.is_empty());
        assert!(mallory.filter(&cib).find_by_id(None, "web").is_none());
    }
}
