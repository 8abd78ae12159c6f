//! The AI writer: an organisation's own Anthropic account drafts a step's message from the
//! step's template and brief.
//!
//! - **No personal data leaves.** The prompt holds the business's name, the lead's source,
//!   status, engagement level and how long they have been quiet (in buckets), the channel, the
//!   brief and the template. Not even the first name: the model writes `{{ first_name }}` and
//!   Leadline fills it in, like any template.
//! - **Cached by context.** The same context (and model) gives the same draft without a call, so
//!   a thousand quiet leads of one source cost one call.
//! - **A monthly token budget** per organisation: at or over it, no call is made this month and
//!   the template is sent. Concurrent calls may pass it by at most their own size.
//! - **A guard** refuses a draft that is too long, carries a link, a phone number or an address,
//!   uses other template syntax, shouts, or uses wording carriers and the FTC watch for; then the
//!   template is sent.
//! - **Every generation is recorded** with its tokens and cost (from the organisation's prices),
//!   keyed by the message it was for.

use domain::engagement::Level;
use domain::sequence::{Origin, Step};
use domain::{Channel, Lead, Purpose, Tenant, Timestamp};
use serde::{Deserialize, Serialize};
use store::AiGeneration;

use crate::{Engine, EngineError};

/// The sealed secret the settings are kept under.
pub const SECRET: &str = "integration.anthropic";
/// Changes whenever the prompt does, so cached drafts of an older prompt are not reused.
const PROMPT_VERSION: &str = "writer-1";
/// The longest draft of a text and of an email body.
pub const MAX_SMS_DRAFT: usize = 320;
pub const MAX_EMAIL_DRAFT: usize = 2_000;
/// The most tokens one answer may take.
const MAX_ANSWER_TOKENS: u32 = 400;

/// An organisation's AI writer: its Anthropic key (write-only), model, budget and prices.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriterSettings {
    pub api_key: String,
    /// The Anthropic model id to use.
    pub model: String,
    /// Tokens (input and output) the organisation allows per calendar month (UTC).
    pub monthly_token_budget: u64,
    /// US dollars per million input tokens, for the recorded cost (your contract's price).
    #[serde(default = "default_input_price")]
    pub input_usd_per_mtok: f64,
    /// US dollars per million output tokens.
    #[serde(default = "default_output_price")]
    pub output_usd_per_mtok: f64,
}

fn default_input_price() -> f64 {
    3.0
}

fn default_output_price() -> f64 {
    15.0
}

impl std::fmt::Debug for WriterSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterSettings")
            .field("api_key", &"<redacted>")
            .field("model", &self.model)
            .field("monthly_token_budget", &self.monthly_token_budget)
            .finish_non_exhaustive()
    }
}

impl WriterSettings {
    /// Every problem, by field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.api_key.trim().len() < 20 || self.api_key.chars().any(char::is_whitespace) {
            out.push(("api_key", "is not an Anthropic API key".to_owned()));
        }
        if self.model.is_empty()
            || self.model.len() > 100
            || !self
                .model
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '@'))
        {
            out.push(("model", "is not a model id".to_owned()));
        }
        if self.monthly_token_budget == 0 || self.monthly_token_budget > 1_000_000_000 {
            out.push(("monthly_token_budget", "1 to 1,000,000,000".to_owned()));
        }
        for (field, price) in [
            ("input_usd_per_mtok", self.input_usd_per_mtok),
            ("output_usd_per_mtok", self.output_usd_per_mtok),
        ] {
            if !(0.0..=1_000.0).contains(&price) {
                out.push((field, "0 to 1,000".to_owned()));
            }
        }
        out
    }

    /// The cost of a call, in millionths of a dollar.
    pub fn cost_micros(&self, usage: providers::anthropic::Usage) -> i64 {
        let usd = (usage.input_tokens as f64) * self.input_usd_per_mtok / 1e6
            + (usage.output_tokens as f64) * self.output_usd_per_mtok / 1e6;
        (usd * 1e6).round() as i64
    }
}

/// The month a usage counts in.
pub fn month_of(at: Timestamp) -> String {
    at.to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m")
        .to_string()
}

/// What the model is told about the lead: nothing that identifies them.
#[derive(Debug, Serialize)]
struct Context<'a> {
    business: &'a str,
    channel: &'static str,
    purpose: &'static str,
    lead_source: &'a str,
    lead_status: &'static str,
    engagement: &'static str,
    quiet_for: &'static str,
    max_characters: usize,
    brief: &'a str,
    template: &'a str,
}

/// How long the lead has been quiet, coarsely (a finer value would only split the cache).
fn quiet_bucket(since: Timestamp, now: Timestamp) -> &'static str {
    let days = now.duration_since(since).as_hours() / 24;
    match days {
        ..=1 => "a day or less",
        2..=3 => "two or three days",
        4..=7 => "about a week",
        8..=14 => "about two weeks",
        15..=31 => "about a month",
        _ => "over a month",
    }
}

const SYSTEM: &str = "You write one follow-up message that a small local business sends to a \
person who asked it for a quote or a service. Write only the message itself: no preamble, no \
quotes, no sign-off lines beyond the business name. Write {{ first_name }} where the person's \
first name goes and {{ business_name }} for the business; use no other placeholders or \
template syntax. Never invent prices, discounts, dates, deadlines or facts that the brief does \
not give. No links, phone numbers or email addresses. No pressure, no urgency, no all-capital \
words, no promises or guarantees. Be brief, warm and plain. Do not add an opt-out line: it is \
added for you.";

fn prompt(c: &Context<'_>) -> String {
    format!(
        "Brief: {brief}\n\nThe business's own draft, to improve on: {template}\n\n\
         Business: {business}. Channel: {channel}, at most {max} characters. The message is \
         {purpose}. The person came from {source}; their status is {status}; their \
         engagement is {engagement}; we have not heard from them for {quiet}.\n\n\
         Write the message.",
        brief = c.brief,
        template = c.template,
        business = c.business,
        channel = c.channel,
        max = c.max_characters,
        purpose = c.purpose,
        source = c.lead_source,
        status = c.lead_status,
        engagement = c.engagement,
        quiet = c.quiet_for,
    )
}

/// Why a draft was refused.
pub fn guard(text: &str, channel: Channel) -> Result<(), &'static str> {
    let max = match channel {
        Channel::Sms => MAX_SMS_DRAFT,
        Channel::Email => MAX_EMAIL_DRAFT,
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty");
    }
    if trimmed.chars().count() > max {
        return Err("length");
    }
    if trimmed.contains('@') {
        return Err("address");
    }
    let lower = trimmed.to_lowercase();
    if lower.contains("://") || lower.contains("www.") || has_domain(&lower) {
        return Err("link");
    }
    let mut run = 0;
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            run += 1;
            if run >= 7 {
                return Err("number");
            }
        } else if !matches!(c, ' ' | '-' | '(' | ')' | '.') {
            run = 0;
        }
    }
    if trimmed.contains("{%") || trimmed.contains("{#") {
        return Err("syntax");
    }
    let mut rest = trimmed;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err("syntax");
        };
        let name = after[..close].trim();
        if name != "first_name" && name != "business_name" {
            return Err("syntax");
        }
        rest = &after[close + 2..];
    }
    if rest.contains("}}") {
        return Err("syntax");
    }
    const WORDING: &[&str] = &[
        "guarantee",
        "risk-free",
        "risk free",
        "act now",
        "urgent",
        "limited time",
        "last chance",
        "winner",
        "congratulations",
        "free money",
        "cash",
        "loan",
        "credit",
        "100%",
        "click here",
    ];
    if WORDING.iter().any(|w| lower.contains(w)) {
        return Err("wording");
    }
    let shouting = trimmed
        .split(|c: char| !c.is_alphabetic())
        .any(|w| w.chars().count() >= 4 && w.chars().all(char::is_uppercase) && w != "STOP");
    if shouting {
        return Err("shouting");
    }
    Ok(())
}

/// `acme.com`, `book.example.org`: a word with a dot between letters and a 2-to-6-letter end.
fn has_domain(lower: &str) -> bool {
    lower
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | '"' | '\''))
        .any(|word| {
            let word = word.trim_end_matches(['.', '!', '?', ':', ';']);
            match word.rsplit_once('.') {
                Some((head, tld)) => {
                    !head.is_empty()
                        && head.chars().last().is_some_and(char::is_alphanumeric)
                        && (2..=6).contains(&tld.len())
                        && tld.chars().all(|c| c.is_ascii_alphabetic())
                }
                None => false,
            }
        })
}

impl Engine {
    /// The organisation's AI writer settings, when it has set them. A stored value that no
    /// longer reads is a fault, not "not set" (as with provider integrations).
    pub async fn writer_settings(
        &self,
        tenant: Tenant,
    ) -> Result<Option<WriterSettings>, EngineError> {
        let secrets = self.store.get_tenant_secrets(tenant).await?;
        secrets
            .get(SECRET)
            .map(|json| {
                serde_json::from_str(json).map_err(|e| {
                    crate::integrations::unreadable("the AI writer settings", &e).into()
                })
            })
            .transpose()
    }

    /// Sets (`Some`) or removes the organisation's AI writer.
    pub async fn set_writer(
        &self,
        tenant: Tenant,
        settings: Option<&WriterSettings>,
    ) -> Result<(), EngineError> {
        let value = settings
            .map(|s| {
                serde_json::to_string(s)
                    .map_err(|e| EngineError::Store(store::DbError::corrupt(e.to_string())))
            })
            .transpose()?;
        self.store
            .set_tenant_secrets(tenant, &[(SECRET.to_owned(), value)], self.clock.wall_now())
            .await?;
        Ok(())
    }

    /// A draft of `step` for `lead`, as a template (`{{ first_name }}` placeholders), or `None`
    /// to send the step's own template. Never fails: a writer that is off, over budget, failing
    /// or refused by the guard gives `None`, and the generation says why.
    pub(crate) async fn ai_draft(
        &self,
        tenant: Tenant,
        org: &store::TenantRecord,
        lead: &Lead,
        step: &Step,
        origin: Origin,
        message_key: &str,
    ) -> Option<String> {
        let ai = step.ai.as_ref()?;
        let settings = match self.writer_settings(tenant).await {
            Ok(Some(s)) => s,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "reading the AI writer settings");
                return None;
            }
        };
        let now = self.clock.now();
        let purpose = match origin {
            Origin::Recovery => Purpose::Marketing,
            Origin::Manual | Origin::Intake => step.purpose,
        };
        let context = Context {
            business: org.brand(),
            channel: match step.channel {
                Channel::Sms => "a text message (SMS)",
                Channel::Email => "the body of an email",
            },
            purpose: match purpose {
                Purpose::Marketing => "a marketing message",
                Purpose::Informational => "an informational message",
                Purpose::Transactional => "a transactional message",
            },
            lead_source: &lead.source,
            lead_status: lead.status.as_str(),
            engagement: match lead.engagement.level_at(now) {
                Level::Hot => "hot (they replied recently)",
                Level::Warm => "warm",
                Level::Cold => "cold",
            },
            quiet_for: quiet_bucket(lead.last_touch_at, now),
            max_characters: match step.channel {
                Channel::Sms => MAX_SMS_DRAFT,
                Channel::Email => MAX_EMAIL_DRAFT,
            },
            brief: ai.brief.trim(),
            template: step.template.trim(),
        };
        let context_json = serde_json::to_string(&context).unwrap_or_default();
        let key = hex_key(&format!(
            "{PROMPT_VERSION}\n{}\n{context_json}",
            settings.model
        ));
        let month = month_of(now);
        let record =
            |outcome: String, usage: providers::anthropic::Usage, cached: bool| AiGeneration {
                id: uuid::Uuid::now_v7(),
                message_key: message_key.to_owned(),
                model: settings.model.clone(),
                input_tokens: i64::try_from(usage.input_tokens).unwrap_or(i64::MAX),
                output_tokens: i64::try_from(usage.output_tokens).unwrap_or(i64::MAX),
                cost_micros: if cached {
                    0
                } else {
                    settings.cost_micros(usage)
                },
                cached,
                outcome,
                at: now,
            };
        let count = |outcome: &'static str| {
            metrics::counter!(crate::metrics::AI_WRITER, "outcome" => outcome).increment(1);
        };
        let save = |generation: AiGeneration, cache: Option<(String, String)>| async {
            if let Err(e) = self
                .store
                .record_ai(tenant, &month, generation, cache)
                .await
            {
                tracing::warn!(error = %e, "recording an AI generation");
            }
        };
        match self.store.ai_cached(tenant, &key).await {
            Ok(Some(text)) => {
                count("cached");
                save(record("used".into(), Default::default(), true), None).await;
                return Some(text);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "reading the AI writer's cache");
                return None;
            }
        }
        let used = match self.store.ai_usage(tenant, &month).await {
            Ok(u) => u.tokens(),
            Err(e) => {
                tracing::warn!(error = %e, "reading the AI writer's usage");
                return None;
            }
        };
        if u64::try_from(used).unwrap_or(u64::MAX) >= settings.monthly_token_budget {
            count("budget");
            save(record("budget".into(), Default::default(), false), None).await;
            return None;
        }
        let client = providers::anthropic::Client::new(
            self.http().clone(),
            &self.config.endpoints.anthropic_api_base,
            providers::anthropic::Account {
                api_key: settings.api_key.clone(),
                model: settings.model.clone(),
            },
        );
        let written = match client
            .write(SYSTEM, &prompt(&context), MAX_ANSWER_TOKENS)
            .await
        {
            Ok(w) => w,
            Err(e) => {
                count("error");
                tracing::warn!(code = e.code(), "the AI writer failed; the template goes");
                save(
                    record(format!("error:{}", e.code()), Default::default(), false),
                    None,
                )
                .await;
                return None;
            }
        };
        let text = written.text.trim().to_owned();
        let verdict = if written.truncated {
            Err("length")
        } else {
            guard(&text, step.channel)
                .and_then(|()| crate::templates::validate(&text).map_err(|_| "syntax"))
        };
        match verdict {
            Ok(()) => {
                count("used");
                save(
                    record("used".into(), written.usage, false),
                    Some((key, text.clone())),
                )
                .await;
                Some(text)
            }
            Err(rule) => {
                count("guard");
                tracing::info!(rule, "the AI writer's draft was refused; the template goes");
                save(record(format!("guard:{rule}"), written.usage, false), None).await;
                None
            }
        }
    }
}

fn hex_key(text: &str) -> String {
    crypto::sha256(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_refuses_links_numbers_syntax_shouting_and_wording() {
        let ok = "Hi {{ first_name }}, it's {{ business_name }}. Still thinking about the roof? Happy to help.";
        assert_eq!(guard(ok, Channel::Sms), Ok(()));
        for (text, rule) in [
            ("See https://acme.example/quote", "link"),
            ("Book at acme.com today", "link"),
            ("Mail me at jo@acme.test", "address"),
            ("Call 312-555-0101", "number"),
            ("Hi {{ last_name }}", "syntax"),
            ("{% for x in y %}hi{% endfor %}", "syntax"),
            ("This is URGENT, reply", "wording"),
            ("We GUARANTEE the best price", "wording"),
            ("Reply TODAY please", "shouting"),
            ("", "empty"),
        ] {
            assert_eq!(guard(text, Channel::Sms), Err(rule), "{text}");
        }
        assert_eq!(guard(&"x".repeat(321), Channel::Sms), Err("length"));
        assert!(guard(&"x".repeat(321), Channel::Email).is_ok());
        assert_eq!(
            guard("Reply STOP to opt out. Thanks, Mr. Lee.", Channel::Sms),
            Ok(())
        );
    }

    #[test]
    fn costs_follow_the_organisations_prices() {
        let s = WriterSettings {
            api_key: "sk-ant-0123456789abcdefghij".into(),
            model: "claude-test".into(),
            monthly_token_budget: 1000,
            input_usd_per_mtok: 3.0,
            output_usd_per_mtok: 15.0,
        };
        let usage = providers::anthropic::Usage {
            input_tokens: 1_000,
            output_tokens: 100,
        };
        // $0.003 + $0.0015
        assert_eq!(s.cost_micros(usage), 4_500);
        assert!(s.problems().is_empty());
        assert!(!format!("{s:?}").contains("sk-ant"));
    }

    #[test]
    fn settings_that_do_not_read_never_quote_their_values() {
        let raw = r#"{"api_key":"k","model":"m","monthly_token_budget":"sk-ant-secret-value"}"#;
        let e = serde_json::from_str::<WriterSettings>(raw)
            .err()
            .unwrap_or_else(|| panic!("read"));
        assert!(
            e.to_string().contains("sk-ant-secret-value"),
            "serde quotes it: {e}"
        );
        let ours = crate::integrations::unreadable("the AI writer settings", &e).to_string();
        assert!(!ours.contains("sk-ant"), "{ours}");
        assert!(ours.contains("column"), "{ours}");
    }

    #[test]
    fn quiet_time_is_bucketed() {
        let now: Timestamp = "2026-03-10T00:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let ago = |d: i64| now - jiff::SignedDuration::from_hours(24 * d);
        assert_eq!(quiet_bucket(ago(3), now), "two or three days");
        assert_eq!(quiet_bucket(ago(6), now), "about a week");
        assert_eq!(quiet_bucket(ago(90), now), "over a month");
    }
}
