//! The keywords a person can text: opt-out, opt-in and help, as carriers and CTIA define them.
//!
//! Only a whole message that is one keyword counts. Phrasings such as "please stop texting me"
//! (which COMPLIANCE.md also treats as a revocation, in English and Spanish) are a later issue and
//! are not recognised here.

/// What an inbound message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    /// Stop every message (47 CFR 64.1200(a)(10); CTIA; carrier defaults).
    OptOut,
    /// Resume after an opt-out.
    OptIn,
    /// Send the help answer.
    Help,
}

impl Keyword {
    /// `opt_out`, `opt_in` or `help`.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::OptOut => "opt_out",
            Keyword::OptIn => "opt_in",
            Keyword::Help => "help",
        }
    }
}

const OPT_OUT: &[&str] = &[
    "STOP",
    "STOPALL",
    "END",
    "CANCEL",
    "UNSUBSCRIBE",
    "QUIT",
    "REVOKE",
    "OPTOUT",
    "OPT OUT",
    "OPT-OUT",
    "REMOVE",
    "ARRET",
    "ARRÊT",
];
const OPT_IN: &[&str] = &["START", "UNSTOP", "YES"];
const HELP: &[&str] = &["HELP", "INFO"];

/// The keyword an inbound message is, if it is one: the whole message, ignoring case, surrounding
/// whitespace and trailing `.` or `!`, with inner whitespace collapsed (`"Opt   out!"` is OPT OUT).
pub fn classify(body: &str) -> Option<Keyword> {
    let trimmed = body.trim().trim_end_matches(['.', '!']);
    let normalised = trimmed
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    let word = normalised.as_str();
    if OPT_OUT.contains(&word) {
        Some(Keyword::OptOut)
    } else if OPT_IN.contains(&word) {
        Some(Keyword::OptIn)
    } else if HELP.contains(&word) {
        Some(Keyword::Help)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_spellings() {
        let cases: &[(&str, Option<Keyword>)] = &[
            ("STOP", Some(Keyword::OptOut)),
            ("Stop", Some(Keyword::OptOut)),
            (" STOP ", Some(Keyword::OptOut)),
            ("stop.", Some(Keyword::OptOut)),
            ("Stop!", Some(Keyword::OptOut)),
            ("stop!!.", Some(Keyword::OptOut)),
            ("\tstop\n", Some(Keyword::OptOut)),
            ("StopAll", Some(Keyword::OptOut)),
            ("end", Some(Keyword::OptOut)),
            ("Cancel", Some(Keyword::OptOut)),
            ("unsubscribe", Some(Keyword::OptOut)),
            ("Quit", Some(Keyword::OptOut)),
            ("revoke", Some(Keyword::OptOut)),
            ("optout", Some(Keyword::OptOut)),
            ("Opt Out", Some(Keyword::OptOut)),
            ("opt   out", Some(Keyword::OptOut)),
            ("opt-out", Some(Keyword::OptOut)),
            ("OPT-OUT!", Some(Keyword::OptOut)),
            ("Remove", Some(Keyword::OptOut)),
            ("ARRET", Some(Keyword::OptOut)),
            ("arrêt", Some(Keyword::OptOut)),
            ("Arrêt.", Some(Keyword::OptOut)),
            ("start", Some(Keyword::OptIn)),
            ("Unstop", Some(Keyword::OptIn)),
            ("YES", Some(Keyword::OptIn)),
            ("yes!", Some(Keyword::OptIn)),
            ("help", Some(Keyword::Help)),
            ("Help?", None),
            ("INFO", Some(Keyword::Help)),
            ("Stop please", None),
            ("please stop texting me", None),
            ("stopp", None),
            ("st op", None),
            ("optout now", None),
            ("", None),
            ("   ", None),
            ("...", None),
            ("yes please", None),
        ];
        for (body, expected) in cases {
            assert_eq!(classify(body), *expected, "{body:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(body in ".{0,200}") {
            let _ = classify(&body);
        }
    }
}
