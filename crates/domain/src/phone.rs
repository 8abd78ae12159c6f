//! `Phone`: a telephone number in E.164, by construction.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a usable phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("is empty")]
    Empty,
    #[error("is not a phone number")]
    Unparseable,
    #[error("is not a valid number for its region")]
    Invalid,
    #[error("default region {0:?} is not an ISO 3166 country code")]
    UnknownRegion(String),
}

/// A phone number in E.164 form (`+14155550123`). Made only by [`Phone::parse`] or
/// [`Phone::parse_e164`], so past the edge nothing re-checks it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Parses what a person typed (`(415) 555-0123`, `415.555.0123`, `+44 20 7946 0958`),
    /// reading numbers without a country code as numbers of `default_region` (ISO 3166 alpha-2).
    pub fn parse(input: &str, default_region: &str) -> Result<Self, PhoneError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(PhoneError::Empty);
        }
        // Guard the parser against absurd inputs; no real number is this long.
        if input.len() > 64 {
            return Err(PhoneError::Unparseable);
        }
        let region: phonenumber::country::Id = default_region
            .to_ascii_uppercase()
            .parse()
            .map_err(|_| PhoneError::UnknownRegion(default_region.to_owned()))?;
        let number =
            phonenumber::parse(Some(region), input).map_err(|_| PhoneError::Unparseable)?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::Invalid);
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// Parses a number that must already be E.164 (`+` and country code), as providers send them.
    pub fn parse_e164(input: &str) -> Result<Self, PhoneError> {
        let input = input.trim();
        if !input.starts_with('+') {
            return Err(PhoneError::Unparseable);
        }
        Self::parse(input, "US")
    }

    /// The E.164 text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For a North American number (`+1NXXNXXXXXX`), its three-digit area code.
    pub fn nanp_area_code(&self) -> Option<&str> {
        let rest = self.0.strip_prefix("+1")?;
        (rest.len() == 10).then(|| &rest[..3])
    }

    /// The number with all but its last four digits hidden, for logs: `+1******4567`.
    pub fn masked(&self) -> String {
        crate::mask::phone(&self.0)
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Debug output never shows the number: values of this type end up in logs.
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl<'de> Deserialize<'de> for Phone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse_e164(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_formats_become_e164() {
        for input in [
            "(415) 555-2671",
            "415.555.2671",
            "4155552671",
            " +1 415 555 2671 ",
        ] {
            assert_eq!(
                Phone::parse(input, "US").unwrap().as_str(),
                "+14155552671",
                "{input}"
            );
        }
    }

    #[test]
    fn foreign_numbers_keep_their_country() {
        let p = Phone::parse("+44 20 7946 0958", "US").unwrap();
        assert_eq!(p.as_str(), "+442079460958");
        assert_eq!(p.nanp_area_code(), None);
    }

    #[test]
    fn area_code_of_a_nanp_number() {
        assert_eq!(
            Phone::parse("850-555-0199", "US").map(|p| p.nanp_area_code().map(str::to_owned)),
            Ok(Some("850".into()))
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(Phone::parse("", "US"), Err(PhoneError::Empty));
        assert!(Phone::parse("hello", "US").is_err());
        assert!(Phone::parse("123", "US").is_err());
        assert!(Phone::parse(&"9".repeat(200), "US").is_err());
        assert!(matches!(
            Phone::parse("4155552671", "ZZ"),
            Err(PhoneError::UnknownRegion(_))
        ));
    }

    #[test]
    fn debug_hides_the_number() {
        let p = Phone::parse("4155552671", "US").unwrap();
        let shown = format!("{p:?}");
        assert!(!shown.contains("5552671"), "{shown}");
        assert!(shown.contains("2671"));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,80}") {
            let _ = Phone::parse(&s, "US");
        }
    }
}
