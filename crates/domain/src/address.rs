//! `Address`: where a message goes, a phone number or an email address.

use std::fmt;

use crate::{Channel, Email, Phone};

#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Address {
    Phone(Phone),
    Email(Email),
}

impl Address {
    /// Parses a phone (E.164 or national in `default_region`) or an email address.
    pub fn parse(input: &str, default_region: &str) -> Option<Self> {
        if input.contains('@') {
            Email::parse(input).ok().map(Address::Email)
        } else {
            Phone::parse(input, default_region).ok().map(Address::Phone)
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Address::Phone(p) => p.as_str(),
            Address::Email(e) => e.as_str(),
        }
    }

    pub fn channel(&self) -> Channel {
        match self {
            Address::Phone(_) => Channel::Sms,
            Address::Email(_) => Channel::Email,
        }
    }

    pub fn masked(&self) -> String {
        match self {
            Address::Phone(p) => p.masked(),
            Address::Email(e) => e.masked(),
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.masked())
    }
}
