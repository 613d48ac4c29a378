//! What every part of the schema uses: enums mirrored from the protos, dates as the services
//! spell them, and the error for an answer a service should not give.

use super::scalars::Date;
use crate::errors::error;
use async_graphql::Result;
use axv_platform::ErrorCode;

/// A GraphQL enum with the proto enum's variants (less UNSPECIFIED) and the conversions.
macro_rules! mirror_enum {
    ($name:ident, $pb:ty { $($variant:ident),+ $(,)? }) => {
        #[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
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
