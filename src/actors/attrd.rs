//! The node's attribute manager, as Pacemaker's `pacemaker-attrd` behaves
//! for `attrd_updater`: transient node attributes with dampening.
//!
//! An update without a delay is written at once (when it changes the value
//! the CIB holds). With a delay (`-d`) a change waits: the value is written
//! once it has held for the delay, every further change starting the wait
//! again (Pacemaker restarts its timer the same way), so a flapping value
//! reaches the CIB, and the scheduler, only once it settles. An update back
//! to the value the CIB already has cancels the wait. Pure: the caller
//! gives the clock and the CIB's current values, and writes what comes out.

use std::collections::BTreeMap;

/// One attribute of one node.
pub type AttributeKey = (String, String);

/// A value that must now be written into the CIB (`None`: deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub node: String,
    pub name: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    value: Option<String>,
    due_ms: u64,
}

/// Attribute values waiting out their dampening.
#[derive(Debug, Default)]
pub struct AttributeManager {
    pending: BTreeMap<AttributeKey, Pending>,
}

impl AttributeManager {
    pub fn new() -> AttributeManager {
        AttributeManager::default()
    }

    /// An update of `node`'s `name` to `value`, dampened by `dampen_ms` (0:
    /// none); `current` is what the CIB holds. Returns a write due now.
    pub fn update(
        &mut self,
        node: &str,
        name: &str,
        value: Option<String>,
        dampen_ms: u64,
        current: Option<&str>,
        now_ms: u64,
    ) -> Option<Write> {
        let key = (node.to_string(), name.to_string());
        let unchanged = value.as_deref() == current;
        if dampen_ms == 0 || (unchanged && !self.pending.contains_key(&key)) {
            self.pending.remove(&key);
            return (!unchanged).then(|| Write {
                node: node.to_string(),
                name: name.to_string(),
                value,
            });
        }
        if unchanged {
            // Back to what the CIB has: nothing to write after all.
            self.pending.remove(&key);
            return None;
        }
        let due_ms = now_ms.saturating_add(dampen_ms);
        match self.pending.get_mut(&key) {
            Some(pending) if pending.value == value => {}
            Some(pending) => *pending = Pending { value, due_ms },
            None => {
                self.pending.insert(key, Pending { value, due_ms });
            }
        }
        None
    }

    /// The writes whose dampening has run out by `now_ms`.
    pub fn due(&mut self, now_ms: u64) -> Vec<Write> {
        let due: Vec<AttributeKey> = self
            .pending
            .iter()
            .filter(|(_, p)| p.due_ms <= now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        due.into_iter()
            .filter_map(|key| {
                let pending = self.pending.remove(&key)?;
                Some(Write {
                    node: key.0,
                    name: key.1,
                    value: pending.value,
                })
            })
            .collect()
    }

    /// When the next write falls due.
    pub fn next_due_ms(&self) -> Option<u64> {
        self.pending.values().map(|p| p.due_ms).min()
    }

    /// The value an `attrd_updater -Q` sees: the newest, written or not.
    pub fn value(&self, node: &str, name: &str, current: Option<&str>) -> Option<String> {
        match self.pending.get(&(node.to_string(), name.to_string())) {
            Some(pending) => pending.value.clone(),
            None => current.map(str::to_string),
        }
    }
}

/// A node's transient attribute as the CIB holds it.
pub fn transient_value(
    cib: &crate::model::cib::xml::Element,
    node: &str,
    name: &str,
) -> Option<String> {
    crate::model::cib::status::transient_attribute(cib, node, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn undampened_changes_are_written_at_once_and_repeats_not_at_all() {
        let mut attrd = AttributeManager::new();
        let write = attrd.update("n1", "pingd", some("100"), 0, None, 0);
        assert_eq!(write.unwrap().value, some("100"));
        assert_eq!(
            attrd.update("n1", "pingd", some("100"), 0, Some("100"), 1),
            None
        );
        let delete = attrd
            .update("n1", "pingd", None, 0, Some("100"), 2)
            .unwrap();
        assert_eq!(delete.value, None);
    }

    #[test]
    fn a_dampened_change_waits_for_the_value_to_settle() {
        let mut attrd = AttributeManager::new();
        assert_eq!(
            attrd.update("n1", "pingd", some("0"), 5_000, Some("100"), 1_000),
            None
        );
        assert_eq!(attrd.next_due_ms(), Some(6_000));
        assert_eq!(attrd.value("n1", "pingd", Some("100")), some("0"));
        // The same value again does not restart the wait...
        attrd.update("n1", "pingd", some("0"), 5_000, Some("100"), 3_000);
        assert_eq!(attrd.next_due_ms(), Some(6_000));
        // ...a different one does.
        attrd.update("n1", "pingd", some("50"), 5_000, Some("100"), 4_000);
        assert!(attrd.due(6_000).is_empty());
        let writes = attrd.due(9_000);
        assert_eq!(
            writes,
            vec![Write {
                node: "n1".into(),
                name: "pingd".into(),
                value: some("50")
            }]
        );
        assert_eq!(attrd.next_due_ms(), None);
    }

    #[test]
    fn flapping_back_to_the_written_value_writes_nothing() {
        let mut attrd = AttributeManager::new();
        attrd.update("n1", "pingd", some("0"), 5_000, Some("100"), 0);
        assert_eq!(
            attrd.update("n1", "pingd", some("100"), 5_000, Some("100"), 1_000),
            None
        );
        assert!(attrd.due(10_000).is_empty());
    }

    #[test]
    fn transient_values_are_read_from_the_status_section() {
        let mut cib = crate::model::cib::store::empty_cib();
        crate::model::cib::store::apply_change(
            &mut cib,
            &crate::actors::message::CibChange::SetTransientAttribute {
                node: "n1".into(),
                name: "#health-cpu".into(),
                value: some("red"),
            },
        )
        .unwrap();
        assert_eq!(transient_value(&cib, "n1", "#health-cpu"), some("red"));
        assert_eq!(transient_value(&cib, "n2", "#health-cpu"), None);
    }
}
