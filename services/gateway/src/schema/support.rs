//! What every part of the schema uses: enums mirrored from the protos, dates as the services
//! spell them, sector and domain names, and the error for an answer a service should not give.

use async_graphql::Result;
use axv_platform::ErrorCode;
use axv_proto::{onboarding::v1 as onboarding_pb, pilots::v1 as pilots_pb};

use super::{onboarding::Sector, pilots::PilotDomain, scalars::Date};
use crate::errors::error;

/// A GraphQL enum with the proto enum's variants (less UNSPECIFIED) and the conversions.
macro_rules! mirror_enum {
    ($name:ident, $pb:ty { $($variant:ident),+ $(,)? }) => {
        #[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
        pub enum $name { $($variant),+ }

        impl From<$name> for $pb {
            fn from(value: $name) -> Self {
                match value { $($name::$variant => <$pb>::$variant),+ }
            }
        }

        impl $name {
            /// `None` for the proto's UNSPECIFIED or an unknown number.
            pub fn from_pb(value: i32) -> Option<Self> {
                match <$pb>::try_from(value).ok()? {
                    $(<$pb>::$variant => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use mirror_enum;

/// A service answered without something it always sends.
pub(crate) fn internal(what: &str) -> async_graphql::Error {
    error(ErrorCode::Internal, what)
}

/// A date a service sent as `YYYY-MM-DD`.
pub(crate) fn date(text: &str, what: &str) -> Result<Date> {
    Date::parse_text(text).ok_or_else(|| internal(what))
}

/// A date as the services take it, `YYYY-MM-DD`.
pub(crate) fn date_text(date: Date) -> String {
    date.0.format("%Y-%m-%d").to_string()
}

/// A sector as vouchers and outcomes spell it: onboarding's enum name without its prefix.
pub(crate) fn sector_name(sector: Sector) -> String {
    onboarding_pb::Sector::from(sector)
        .as_str_name()
        .trim_start_matches("SECTOR_")
        .to_owned()
}

pub(crate) fn sector_of(name: &str) -> Option<Sector> {
    onboarding_pb::Sector::from_str_name(&format!("SECTOR_{name}"))
        .and_then(|s| Sector::from_pb(s.into()))
}

/// A pilot domain as outcomes spells it: the pilots' enum name without its prefix.
pub(crate) fn domain_name(domain: PilotDomain) -> String {
    pilots_pb::PilotDomain::from(domain)
        .as_str_name()
        .trim_start_matches("PILOT_DOMAIN_")
        .to_owned()
}

pub(crate) fn domain_of(name: &str) -> Option<PilotDomain> {
    pilots_pb::PilotDomain::from_str_name(&format!("PILOT_DOMAIN_{name}"))
        .and_then(|d| PilotDomain::from_pb(d.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sectors_and_domains_round_trip_through_their_names() {
        for sector in [Sector::Energy, Sector::ArtificialIntelligence, Sector::Data] {
            assert_eq!(sector_of(&sector_name(sector)), Some(sector));
        }
        assert_eq!(
            sector_name(Sector::PhotonicsAppliances),
            "PHOTONICS_APPLIANCES"
        );
        for domain in [PilotDomain::AutonomousDriving, PilotDomain::Other] {
            assert_eq!(domain_of(&domain_name(domain)), Some(domain));
        }
        assert_eq!(sector_of("NOPE"), None);
        assert_eq!(domain_of("NOPE"), None);
    }
}
