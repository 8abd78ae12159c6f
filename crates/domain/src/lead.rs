//! Leads: people who asked a business to contact them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engagement::Engagement;
use crate::{ConsentEvidence, Email, LeadId, Phone, TenantId, Timestamp};

/// Where a lead is in the pipeline. `OptedOut` is set only by the compliance pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    New,
    Contacted,
    Engaged,
    Booked,
    Won,
    Lost,
    OptedOut,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 7] = [
        LeadStatus::New,
        LeadStatus::Contacted,
        LeadStatus::Engaged,
        LeadStatus::Booked,
        LeadStatus::Won,
        LeadStatus::Lost,
        LeadStatus::OptedOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Engaged => "engaged",
            LeadStatus::Booked => "booked",
            LeadStatus::Won => "won",
            LeadStatus::Lost => "lost",
            LeadStatus::OptedOut => "opted_out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A lead as it arrives, already parsed at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLead {
    pub name: Option<String>,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    /// Where it came from: `web_form`, `facebook`, `api`, ... (free text, bounded at the edge).
    pub source: String,
    pub address: Option<String>,
    pub zip: Option<String>,
    /// An IANA time zone the caller knows the person to be in.
    pub time_zone: Option<String>,
    pub consent: Option<ConsentEvidence>,
    /// Answers to the source's own questions ("What service do you need?"), by question.
    pub details: Details,
    /// Labels the business sorts leads by (`roofing`, `spring-promo`), normalised.
    pub tags: Tags,
}

/// A stored lead with its personal data opened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lead {
    pub id: LeadId,
    pub tenant_id: TenantId,
    pub status: LeadStatus,
    pub source: String,
    pub name: Option<String>,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub address: Option<String>,
    pub zip: Option<String>,
    pub time_zone: Option<String>,
    /// Answers to the source's own questions, by question.
    pub details: Details,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The latest time the person reached out (a form, a repeat submission, a reply).
    pub last_touch_at: Timestamp,
    /// How many times the person has reached out through a source, the first included.
    pub touch_count: i64,
    /// Replies, clicks and opens, decaying with time.
    pub engagement: Engagement,
    pub tags: Tags,
}

impl Lead {
    /// The first word of the name, for greetings.
    pub fn first_name(&self) -> Option<&str> {
        self.name
            .as_deref()
            .and_then(|n| n.split_whitespace().next())
    }
}

/// A lead's answers to its source's own questions: at most [`Details::MAX`] of them, each
/// question up to [`Details::MAX_KEY`] characters and each answer up to
/// [`Details::MAX_VALUE`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Details(BTreeMap<String, String>);

impl Details {
    pub const MAX: usize = 30;
    pub const MAX_KEY: usize = 64;
    pub const MAX_VALUE: usize = 1000;

    /// Adds an answer from a provider, trimmed and cut to the limits; an empty one, one past
    /// the count, or a question already answered is left out. Returns whether it was added.
    pub fn add(&mut self, question: &str, answer: &str) -> bool {
        let question: String = question.trim().chars().take(Self::MAX_KEY).collect();
        let answer: String = answer.trim().chars().take(Self::MAX_VALUE).collect();
        if question.is_empty()
            || answer.is_empty()
            || self.0.len() >= Self::MAX
            || self.0.contains_key(&question)
            || question.chars().any(char::is_control)
        {
            return false;
        }
        self.0.insert(question, answer);
        true
    }

    /// What is wrong with answers given through the API, if anything.
    pub fn problem(map: &BTreeMap<String, String>) -> Option<String> {
        if map.len() > Self::MAX {
            return Some(format!("has more than {} entries", Self::MAX));
        }
        for (k, v) in map {
            if k.trim().is_empty()
                || k.chars().count() > Self::MAX_KEY
                || k.chars().any(char::is_control)
            {
                return Some(format!(
                    "question {k:?} must be 1 to {} characters without control characters",
                    Self::MAX_KEY
                ));
            }
            if v.chars().count() > Self::MAX_VALUE {
                return Some(format!(
                    "the answer to {k:?} is over {} characters",
                    Self::MAX_VALUE
                ));
            }
        }
        None
    }

    /// Answers through the API, once [`Details::problem`] found nothing wrong; empty answers
    /// are left out.
    pub fn from_checked(map: BTreeMap<String, String>) -> Self {
        let mut details = Self::default();
        for (k, v) in map {
            details.add(&k, &v);
        }
        details
    }

    /// The other's answers to questions these lack (a repeat submission adds what is new).
    pub fn merged(&self, other: &Details) -> Details {
        let mut out = self.clone();
        for (k, v) in &other.0 {
            out.add(k, v);
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn get(&self, question: &str) -> Option<&str> {
        self.0.get(question).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod details_tests {
    use super::*;

    #[test]
    fn answers_are_trimmed_bounded_and_first_wins() {
        let mut d = Details::default();
        assert!(d.add(" service ", " Roof repair "));
        assert!(!d.add("service", "Gutters"), "the first answer stays");
        assert!(!d.add("empty", "  "));
        assert!(!d.add("bad\u{0}key", "x"));
        assert!(d.add(&"q".repeat(100), &"a".repeat(5000)));
        assert_eq!(d.get("service"), Some("Roof repair"));
        let long = d.iter().find(|(k, _)| k.starts_with('q')).unwrap();
        assert_eq!(
            (long.0.len(), long.1.len()),
            (Details::MAX_KEY, Details::MAX_VALUE)
        );
        for i in 0..40 {
            d.add(&format!("q{i}"), "yes");
        }
        assert_eq!(d.len(), Details::MAX);
    }

    #[test]
    fn api_answers_are_judged_and_merges_keep_what_was_there() {
        let ok = BTreeMap::from([("service".to_owned(), "Roof".to_owned())]);
        assert_eq!(Details::problem(&ok), None);
        let long = BTreeMap::from([("service".to_owned(), "x".repeat(1001))]);
        assert!(Details::problem(&long).unwrap().contains("1000"));
        let blank = BTreeMap::from([(" ".to_owned(), "x".to_owned())]);
        assert!(Details::problem(&blank).is_some());
        let first = Details::from_checked(ok);
        let second = Details::from_checked(BTreeMap::from([
            ("service".to_owned(), "Gutters".to_owned()),
            ("budget".to_owned(), "$5k".to_owned()),
        ]));
        let merged = first.merged(&second);
        assert_eq!(merged.get("service"), Some("Roof"));
        assert_eq!(merged.get("budget"), Some("$5k"));
    }
}

/// A lead's tags: at most [`Tags::MAX`], each 1 to [`Tags::MAX_LEN`] characters of lowercase
/// letters, digits, `-`, `_`, `:` and `.` (spaces become `-`), sorted, without duplicates.
/// Not personal data: labels of the business's own choosing, stored in clear like the source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Tags(Vec<String>);

impl Tags {
    pub const MAX: usize = 20;
    pub const MAX_LEN: usize = 40;

    /// One tag as stored, or why it cannot be one.
    pub fn normalize(tag: &str) -> Result<String, String> {
        let t: String = tag
            .trim()
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("-");
        if t.is_empty() || t.chars().count() > Self::MAX_LEN {
            return Err(format!("{tag:?} must be 1 to {} characters", Self::MAX_LEN));
        }
        if !t
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
        {
            return Err(format!(
                "{tag:?} may hold only letters, digits, -, _, : and ."
            ));
        }
        Ok(t)
    }

    /// Tags from a request: every problem is an error naming the tag.
    pub fn parse<S: AsRef<str>>(tags: &[S]) -> Result<Tags, String> {
        let mut out = Vec::new();
        for tag in tags {
            out.push(Self::normalize(tag.as_ref())?);
        }
        out.sort();
        out.dedup();
        if out.len() > Self::MAX {
            return Err(format!("at most {} tags", Self::MAX));
        }
        Ok(Tags(out))
    }

    /// Tags from a source that sends what it likes (a CRM's labels): those that cannot be
    /// tags are dropped, and the first [`Tags::MAX`] kept.
    pub fn lenient<S: AsRef<str>>(tags: &[S]) -> Tags {
        let mut out: Vec<String> = tags
            .iter()
            .filter_map(|t| Self::normalize(t.as_ref()).ok())
            .collect();
        out.sort();
        out.dedup();
        out.truncate(Self::MAX);
        Tags(out)
    }

    /// Both sets, up to [`Tags::MAX`] (a repeat submission adds its tags).
    pub fn merged(&self, other: &Tags) -> Tags {
        let mut out: Vec<String> = self.0.iter().chain(other.0.iter()).cloned().collect();
        out.sort();
        out.dedup();
        out.truncate(Self::MAX);
        Tags(out)
    }

    pub fn contains(&self, tag: &str) -> bool {
        self.0.iter().any(|t| t == tag)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tag_tests {
    use super::Tags;

    #[test]
    fn tags_are_normalised_sorted_and_bounded() {
        let t = Tags::parse(&["Spring Promo", "roofing", "ROOFING", "ghl:hot.lead"]).unwrap();
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            ["ghl:hot.lead", "roofing", "spring-promo"]
        );
        assert!(Tags::parse(&["no/slash"]).is_err());
        assert!(Tags::parse(&[" "]).is_err());
        assert!(Tags::parse(&["x".repeat(41)]).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(Tags::parse(&many).is_err());
        assert_eq!(Tags::lenient(&many).iter().count(), 20);
        assert_eq!(
            Tags::lenient(&["ok", "not ok!"]).iter().collect::<Vec<_>>(),
            ["ok"]
        );
        let merged = t.merged(&Tags::parse(&["new"]).unwrap());
        assert!(merged.contains("new") && merged.contains("roofing"));
    }
}
