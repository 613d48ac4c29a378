//! The gRPC contracts of every AX Valley service, generated from `proto/` at build time.
//!
//! Packages follow `axv.<domain>.v1`; `client`/`server` features keep each crate compiling
//! only the halves it uses.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

/// The encoded `FileDescriptorSet` of every proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/axv_descriptor.bin"));

pub mod common {
    pub mod v1 {
        tonic::include_proto!("axv.common.v1");

        /// Sectors and domains are stored, and carried in events, by their names without the
        /// enum's prefix (`MOBILITY`, `AUTONOMOUS_DRIVING`); these convert between the two.
        macro_rules! named_without_prefix {
            ($enum:ident, $prefix:literal) => {
                impl $enum {
                    /// `MOBILITY` for `SECTOR_MOBILITY`.
                    pub fn name(self) -> &'static str {
                        self.as_str_name().trim_start_matches($prefix)
                    }

                    /// `None` for an unknown name and for `UNSPECIFIED`.
                    pub fn from_name(name: &str) -> Option<Self> {
                        Self::from_str_name(&format!("{}{name}", $prefix))
                            .filter(|value| *value != Self::Unspecified)
                    }

                    /// A message's field value (`i32`) as its name; `None` when unset or unknown.
                    pub fn name_of(value: i32) -> Option<&'static str> {
                        Self::try_from(value)
                            .ok()
                            .filter(|value| *value != Self::Unspecified)
                            .map(Self::name)
                    }

                    /// A stored name as a message's field value; UNSPECIFIED (0) when unknown.
                    pub fn value_of(name: &str) -> i32 {
                        Self::from_name(name).map_or(0, |value| value as i32)
                    }
                }
            };
        }

        named_without_prefix!(Sector, "SECTOR_");
        named_without_prefix!(PilotDomain, "PILOT_DOMAIN_");

        #[cfg(test)]
        mod tests {
            use super::*;

            #[test]
            fn names_round_trip_without_their_prefix() {
                assert_eq!(Sector::Mobility.name(), "MOBILITY");
                assert_eq!(Sector::from_name("DATA"), Some(Sector::Data));
                assert_eq!(Sector::from_name("UNSPECIFIED"), None);
                assert_eq!(Sector::from_name("SECTOR_DATA"), None);
                assert_eq!(Sector::name_of(Sector::Energy as i32), Some("ENERGY"));
                assert_eq!(Sector::name_of(0), None);
                assert_eq!(Sector::name_of(99), None);
                assert_eq!(Sector::value_of("ENERGY"), Sector::Energy as i32);
                assert_eq!(Sector::value_of("SPACE"), 0);
                let domain = PilotDomain::AutonomousDriving;
                assert_eq!(PilotDomain::from_name(domain.name()), Some(domain));
                assert_eq!(domain.name(), "AUTONOMOUS_DRIVING");
            }
        }
    }
}

pub mod vouchers {
    pub mod v1 {
        tonic::include_proto!("axv.vouchers.v1");
    }
}

pub mod pilots {
    pub mod v1 {
        tonic::include_proto!("axv.pilots.v1");
    }
}

pub mod outcomes {
    pub mod v1 {
        tonic::include_proto!("axv.outcomes.v1");
    }
}

pub mod audit {
    pub mod v1 {
        tonic::include_proto!("axv.audit.v1");
    }
}

pub mod documents {
    pub mod v1 {
        tonic::include_proto!("axv.documents.v1");
    }
}

pub mod notify {
    pub mod v1 {
        tonic::include_proto!("axv.notify.v1");
    }
}

pub mod onboarding {
    pub mod v1 {
        tonic::include_proto!("axv.onboarding.v1");
    }
}
