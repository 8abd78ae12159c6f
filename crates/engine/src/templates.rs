//! Message templates: minijinja in a sandbox with limits.
//!
//! Templates come from organisations' settings, so they are untrusted: rendering runs with a
//! fuel budget (no runaway loops), a size limit on the source and on the output, and no
//! filesystem or include access (the environment has no loader).

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

/// The largest template source accepted.
pub const MAX_TEMPLATE_BYTES: usize = 4 * 1024;
/// The longest SMS body sent (10 segments of GSM-7).
pub const MAX_SMS_CHARS: usize = 1600;
/// The longest email body sent.
pub const MAX_EMAIL_BYTES: usize = 100 * 1024;
/// Instructions a template may execute.
const FUEL: u64 = 50_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template is longer than {MAX_TEMPLATE_BYTES} bytes")]
    TooLong,
    #[error("template does not compile: {0}")]
    Syntax(String),
    #[error("template failed to render: {0}")]
    Render(String),
    #[error("rendered message is longer than {0}")]
    OutputTooLong(usize),
    #[error("rendered message is empty")]
    Empty,
}

/// What a template can refer to.
#[derive(Debug, Clone, Serialize, Default)]
pub struct MessageVars {
    /// Absent (undefined to the template, so `default(...)` applies) when the lead gave no name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    pub business_name: String,
    pub source: String,
    pub support_contact: String,
    /// "Reply STOP to opt out." in texts; empty in emails (their footer carries the
    /// unsubscribe link).
    pub opt_out_line: String,
    /// For appointment messages: what, when (in the lead's time zone, else the
    /// appointment's: "Tue, Nov 24 at 3:00 PM CST") and where.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointment_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointment_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointment_location: Option<String>,
}

impl MessageVars {
    /// The variables of a message from `org` to `lead` on `channel`.
    pub fn for_lead(
        org: &store::TenantRecord,
        lead: &domain::Lead,
        channel: domain::Channel,
    ) -> Self {
        Self {
            first_name: lead.first_name().map(str::to_owned),
            business_name: org.brand().to_owned(),
            source: lead.source.clone(),
            support_contact: org.settings.support_contact.clone(),
            opt_out_line: match channel {
                domain::Channel::Sms => SMS_OPT_OUT_LINE.to_owned(),
                domain::Channel::Email => String::new(),
            },
            ..Self::default()
        }
    }

    /// With an appointment's title, time (in the lead's zone when known) and place.
    pub fn with_appointment(
        mut self,
        appointment: &domain::appointment::Appointment,
        lead: &domain::Lead,
    ) -> Self {
        let zone = lead.time_zone.as_deref().unwrap_or(&appointment.time_zone);
        self.appointment_title = Some(appointment.title.clone());
        self.appointment_time = Some(local_time(appointment.starts_at, zone));
        self.appointment_location = appointment.location.clone();
        self
    }
}

/// The opt-out line of texts.
pub const SMS_OPT_OUT_LINE: &str = "Reply STOP to opt out.";

/// An instant as a person reads it in `zone`: `Tue, Nov 24 at 3:00 PM CST`. An unknown zone
/// falls back to UTC.
pub fn local_time(at: domain::Timestamp, zone: &str) -> String {
    let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    at.to_zoned(tz)
        .strftime("%a, %b %-d at %-I:%M %p %Z")
        .to_string()
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env
}

/// Checks that `source` is a template we could render.
pub fn validate(source: &str) -> Result<(), TemplateError> {
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateError::TooLong);
    }
    let env = environment();
    env.template_from_str(source)
        .map(|_| ())
        .map_err(|e| TemplateError::Syntax(e.to_string()))
}

/// Renders `source` with `vars`, then bounds the result to `max_chars` characters.
pub fn render(source: &str, vars: &MessageVars, max_chars: usize) -> Result<String, TemplateError> {
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateError::TooLong);
    }
    let env = environment();
    let template = env
        .template_from_str(source)
        .map_err(|e| TemplateError::Syntax(e.to_string()))?;
    let out = template
        .render(minijinja::value::Serde(vars))
        .map_err(|e| TemplateError::Render(e.to_string()))?;
    let out = out.trim().to_owned();
    if out.is_empty() {
        return Err(TemplateError::Empty);
    }
    if out.chars().count() > max_chars {
        return Err(TemplateError::OutputTooLong(max_chars));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> MessageVars {
        MessageVars {
            first_name: Some("Jane".into()),
            business_name: "Acme Roofing".into(),
            ..MessageVars::default()
        }
    }

    #[test]
    fn renders_the_default_first_response() {
        let source = store::TenantSettings::default().first_response_sms;
        let out = render(&source, &vars(), MAX_SMS_CHARS).unwrap();
        assert!(
            out.starts_with("Hi Jane, thanks for reaching out to Acme Roofing!"),
            "{out}"
        );
        assert!(out.ends_with("Reply STOP to opt out."), "{out}");
        let anonymous = MessageVars {
            first_name: None,
            ..vars()
        };
        assert!(
            render(&source, &anonymous, MAX_SMS_CHARS)
                .unwrap()
                .starts_with("Hi there,")
        );
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let err = render(
            "{% for i in range(100000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}",
            &vars(),
            MAX_SMS_CHARS,
        )
        .unwrap_err();
        assert!(matches!(err, TemplateError::Render(_)), "{err:?}");
    }

    #[test]
    fn output_and_source_are_bounded() {
        assert_eq!(
            render(&"x".repeat(MAX_TEMPLATE_BYTES + 1), &vars(), MAX_SMS_CHARS),
            Err(TemplateError::TooLong)
        );
        assert_eq!(
            render("{{ 'y' * 2000 }}", &vars(), MAX_SMS_CHARS),
            Err(TemplateError::OutputTooLong(MAX_SMS_CHARS))
        );
        assert_eq!(
            render("   ", &vars(), MAX_SMS_CHARS),
            Err(TemplateError::Empty)
        );
        assert!(matches!(
            validate("{% if %}"),
            Err(TemplateError::Syntax(_))
        ));
    }

    #[test]
    fn no_html_escaping_in_texts() {
        let v = MessageVars {
            business_name: "Smith & Sons <Roofing>".into(),
            ..vars()
        };
        assert_eq!(
            render("{{ business_name }}", &v, MAX_SMS_CHARS).unwrap(),
            "Smith & Sons <Roofing>"
        );
    }

    #[test]
    fn appointment_times_read_in_the_zone_with_daylight_saving() {
        let summer: domain::Timestamp = "2026-07-14T20:00:00Z".parse().unwrap();
        assert_eq!(
            local_time(summer, "America/Chicago"),
            "Tue, Jul 14 at 3:00 PM CDT"
        );
        let winter: domain::Timestamp = "2026-11-24T21:05:00Z".parse().unwrap();
        assert_eq!(
            local_time(winter, "America/Chicago"),
            "Tue, Nov 24 at 3:05 PM CST"
        );
        assert_eq!(
            local_time(winter, "Nowhere/Else"),
            "Tue, Nov 24 at 9:05 PM UTC"
        );
        let v = MessageVars {
            appointment_time: Some(local_time(winter, "America/New_York")),
            opt_out_line: SMS_OPT_OUT_LINE.into(),
            ..vars()
        };
        assert_eq!(
            render(
                "See you {{ appointment_time }}. {{ opt_out_line }}",
                &v,
                MAX_SMS_CHARS
            )
            .unwrap(),
            "See you Tue, Nov 24 at 4:05 PM EST. Reply STOP to opt out."
        );
    }

    #[test]
    fn templates_cannot_include_files() {
        assert!(render("{% include '/etc/passwd' %}", &vars(), MAX_SMS_CHARS).is_err());
    }
}
