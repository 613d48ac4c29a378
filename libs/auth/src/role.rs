//! Platform roles.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a caller may do on the platform (docs/architecture.md, "Who uses it").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    FirmMember,
    ProgramManager,
    Operator,
    Dashboard,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::FirmMember,
        Role::ProgramManager,
        Role::Operator,
        Role::Dashboard,
        Role::Admin,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::FirmMember => "FIRM_MEMBER",
            Role::ProgramManager => "PROGRAM_MANAGER",
            Role::Operator => "OPERATOR",
            Role::Dashboard => "DASHBOARD",
            Role::Admin => "ADMIN",
        }
    }

    /// City staff see every company's data.
    pub fn is_staff(&self) -> bool {
        matches!(self, Role::ProgramManager | Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`")]
pub struct ParseRoleError(pub String);

impl FromStr for Role {
    type Err = ParseRoleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ParseRoleError(s.to_owned()))
    }
}

/// Reads a stored role (`#[sqlx(try_from = "String")]`).
impl TryFrom<String> for Role {
    type Error = ParseRoleError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_roundtrip_through_display_fromstr_and_serde() {
        for role in Role::ALL {
            assert_eq!(role.to_string().parse::<Role>(), Ok(role));
            let json = serde_json::to_string(&role).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).ok(), Some(role));
        }
        assert!("admin".parse::<Role>().is_err());
        assert_eq!(Role::try_from("ADMIN".to_owned()), Ok(Role::Admin));
        assert!(Role::Admin.is_staff() && Role::ProgramManager.is_staff());
        assert!(!Role::FirmMember.is_staff() && !Role::Operator.is_staff());
        assert!(!Role::Dashboard.is_staff());
    }
}
