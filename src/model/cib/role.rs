//! Roles as the CIB writes them, old names included.

/// A role as the CIB and the scheduler see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Unknown,
    Stopped,
    Started,
    Unpromoted,
    Promoted,
}

impl Role {
    /// Reads a role, accepting the old names.
    pub fn parse(text: &str) -> Option<Role> {
        Some(match text {
            "Stopped" => Role::Stopped,
            "Started" => Role::Started,
            "Slave" | "Unpromoted" => Role::Unpromoted,
            "Master" | "Promoted" => Role::Promoted,
            "Unknown" => Role::Unknown,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Unknown => "Unknown",
            Role::Stopped => "Stopped",
            Role::Started => "Started",
            Role::Unpromoted => "Unpromoted",
            Role::Promoted => "Promoted",
        }
    }

    pub fn is_active(self) -> bool {
        matches!(self, Role::Started | Role::Unpromoted | Role::Promoted)
    }
}
