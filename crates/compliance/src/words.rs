//! The keywords a person can text: opt-out, opt-in and help, as carriers and CTIA define them.
//!
//! [`classify`]: only a whole message that is one keyword counts. [`revocation`]: any other
//! message that a reasonable person would read as "stop contacting me" ("please stop texting
//! me", "take me off your list", "no me escriban más", "dejen de mandarme mensajes"), which
//! COMPLIANCE.md also treats as a revocation. Those suppress by default and go to a person for
//! review, because a phrase can be misread ("don't text me before noon").

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

/// Phrasings that revoke consent, by rule id. Matched as whole words in the normalised message
/// (lower case, accents and apostrophes dropped, punctuation as spaces): `"Don't text me!!"`
/// matches `dont text`.
pub const REVOCATIONS: &[(&str, &[&str])] = &[
    (
        "en.stop_contacting",
        &[
            "stop texting",
            "stop txting",
            "stop messaging",
            "stop sending",
            "stop contacting",
            "stop calling",
            "stop emailing",
            "stop the texts",
            "stop the messages",
            "stop these texts",
            "stop these messages",
            "stop bothering",
            "stop spamming",
        ],
    ),
    (
        "en.do_not_contact",
        &[
            "dont text",
            "do not text",
            "dont txt",
            "dont message",
            "do not message",
            "dont contact",
            "do not contact",
            "dont call",
            "do not call",
            "dont email",
            "do not email",
            "dont send",
            "do not send",
            "never text",
            "never contact",
        ],
    ),
    (
        "en.no_more",
        &[
            "no more texts",
            "no more text",
            "no more messages",
            "no more calls",
            "no more emails",
        ],
    ),
    (
        "en.remove_me",
        &[
            "take me off",
            "remove me",
            "remove my number",
            "delete my number",
            "lose my number",
            "unsubscribe me",
            "opt me out",
            "leave me alone",
            "wrong number",
            "unsubscribe",
        ],
    ),
    (
        "en.stop_please",
        &[
            "stop please",
            "please stop",
            "stop it",
            "stop now",
            "pls stop",
            "stop pls",
            "stop stop",
        ],
    ),
    (
        "es.no_me_contacten",
        &[
            "no me escriban",
            "no me escribas",
            "no me envien",
            "no me envies",
            "no me manden",
            "no me mandes",
            "no me contacten",
            "no me contactes",
            "no me llamen",
            "no me llames",
            "no me molesten",
            "no me molestes",
        ],
    ),
    (
        "es.dejen_de",
        &[
            "dejen de escribirme",
            "deja de escribirme",
            "dejen de enviarme",
            "deja de enviarme",
            "dejen de mandarme",
            "deja de mandarme",
            "dejen de llamarme",
            "deja de llamarme",
            "dejen de molestarme",
            "deja de molestarme",
        ],
    ),
    (
        "es.no_quiero",
        &[
            "no quiero mensajes",
            "no quiero recibir",
            "ya no quiero",
            "no mas mensajes",
            "no mas textos",
            "no mas llamadas",
        ],
    ),
    (
        "es.de_baja",
        &[
            "darme de baja",
            "dar de baja",
            "denme de baja",
            "quitenme de",
            "sacame de",
            "saquenme de",
            "borrenme",
            "borren mi numero",
            "numero equivocado",
        ],
    ),
    (
        "es.alto",
        &["alto", "basta", "parar", "para ya", "cancelar"],
    ),
];

/// Words that, alone as the whole message, are a Spanish stop: matched only as the entire
/// message, since "alto" and "para" are common words.
const WHOLE_MESSAGE_ONLY: &[&str] = &["alto", "basta", "parar", "cancelar"];

/// The rule id of a free-text revocation, if the message reads as one. Keywords
/// ([`classify`]) are checked first by the caller; this is for everything else.
pub fn revocation(body: &str) -> Option<&'static str> {
    let text = normalise(body);
    if text.is_empty() {
        return None;
    }
    let padded = format!(" {text} ");
    for (id, phrases) in REVOCATIONS {
        for phrase in *phrases {
            let whole = WHOLE_MESSAGE_ONLY.contains(phrase);
            if (whole && text == *phrase) || (!whole && padded.contains(&format!(" {phrase} "))) {
                return Some(id);
            }
        }
    }
    None
}

/// Lower case, Spanish accents folded, apostrophes dropped, everything else not a letter or a
/// digit a space, runs of spaces collapsed.
fn normalise(body: &str) -> String {
    let folded: String = body
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '\'' | '\u{2019}' | '`'))
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        })
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_in_real_spellings() {
        let cases: &[(&str, Option<&str>)] = &[
            ("Please stop texting me", Some("en.stop_contacting")),
            ("pls stop txting me!!", Some("en.stop_contacting")),
            ("STOP SENDING ME MESSAGES", Some("en.stop_contacting")),
            ("Don't text me again", Some("en.do_not_contact")),
            ("Dont text this number", Some("en.do_not_contact")),
            ("Do NOT contact me", Some("en.do_not_contact")),
            ("don\u{2019}t call me", Some("en.do_not_contact")),
            ("No more texts please", Some("en.no_more")),
            ("take me off your list", Some("en.remove_me")),
            ("Remove me from this list.", Some("en.remove_me")),
            ("please unsubscribe me", Some("en.remove_me")),
            ("Wrong number", Some("en.remove_me")),
            ("Leave me alone", Some("en.remove_me")),
            ("Stop please", Some("en.stop_please")),
            ("please stop", Some("en.stop_please")),
            ("No me escriban más", Some("es.no_me_contacten")),
            ("no me envíen mensajes", Some("es.no_me_contacten")),
            ("Dejen de mandarme mensajes", Some("es.dejen_de")),
            ("deja de escribirme por favor", Some("es.dejen_de")),
            ("Ya no quiero recibir mensajes", Some("es.no_quiero")),
            ("No más mensajes", Some("es.no_quiero")),
            ("Quiero darme de baja", Some("es.de_baja")),
            ("Bórrenme de su lista", Some("es.de_baja")),
            ("Número equivocado", Some("es.de_baja")),
            ("ALTO", Some("es.alto")),
            ("Basta!", Some("es.alto")),
            // Not revocations.
            ("Yes, please call me tomorrow", None),
            ("Can you stop by at 3?", None),
            ("What time is the appointment?", None),
            ("Thanks!", None),
            ("I'm at the alto building", None),
            ("para mañana por favor", None),
            ("", None),
            ("   ", None),
        ];
        for (body, expected) in cases {
            assert_eq!(revocation(body), *expected, "{body:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn revocation_never_panics(body in ".{0,200}") {
            let _ = revocation(&body);
        }
    }

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
