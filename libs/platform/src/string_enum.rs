//! Enums stored and sent as their upper-case names (`"APPROVED"`): in SQL columns, in proto
//! string fields and in events, so every service spells them one way.

/// `string_enum!(Status { Draft => "DRAFT", ... })` declares the enum with `ALL`, `as_str`,
/// `parse`, `Display` and `TryFrom<String>` (so a record reads it from a row with
/// `#[sqlx(try_from = "String")]`).
#[macro_export]
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl ::std::convert::TryFrom<String> for $name {
            type Error = $crate::columns::BadColumn;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                Self::parse(&text).ok_or_else(|| $crate::columns::BadColumn::new(stringify!($name), text))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    string_enum!(
        /// A test enum.
        Light { Red => "RED", Green => "GREEN" }
    );

    #[test]
    fn names_round_trip() {
        for light in Light::ALL {
            assert_eq!(Light::parse(light.as_str()), Some(*light));
            assert_eq!(light.to_string(), light.as_str());
        }
        assert_eq!(Light::parse("red"), None);
        assert_eq!(Light::try_from("GREEN".to_owned()).ok(), Some(Light::Green));
        assert!(Light::try_from("red".to_owned()).is_err());
    }
}
