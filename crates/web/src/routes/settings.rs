//! `/api/v1/settings`: the organisation's settings and secrets.
//!
//! Settings are validated field by field (templates must compile, addresses must parse) and the
//! body is limited to 50 KiB. Secrets (a tax id, integration credentials) are write-only: they
//! are sealed with the key ring one by one, and reads show only whether each is set and a masked
//! hint (`***-**-1234`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use domain::{Email, Phone};
use serde::{Deserialize, Serialize};
use store::{ComplianceSettings, TenantSettings};

use crate::auth::{Auth, ClientIp, scope};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::ApiJson;
use crate::{AppState, AuditEvent};

/// The largest settings body accepted.
pub const MAX_SETTINGS_BODY: usize = 50 * 1024;

/// The secrets an organisation can hold here. Provider credentials are integrations
/// (`/api/v1/integrations/{provider}`).
pub const SECRETS: &[&str] = &["tax_id"];

/// A secret as reads show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SecretView {
    pub set: bool,
    /// The last characters only (`***-**-1234` for a tax id, `••••abcd` otherwise).
    pub hint: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    /// The organisation's name (changed by operators).
    pub name: String,
    #[serde(flatten)]
    pub settings: TenantSettings,
    /// Every known secret, by name: never its value.
    pub secrets: BTreeMap<String, SecretView>,
}

/// The fields to change; absent fields keep their value.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettings {
    pub business_name: Option<String>,
    pub default_region: Option<String>,
    pub first_response_sms: Option<String>,
    pub first_response_email_subject: Option<String>,
    pub first_response_email_body: Option<String>,
    /// The text sent at once to a caller the business missed (Twilio voice).
    pub missed_call_sms: Option<String>,
    pub sms_from: Option<String>,
    pub email_from: Option<String>,
    pub support_contact: Option<String>,
    /// The organisation's own compliance rules, replaced whole: a stricter window, frequency
    /// caps, the Texas registration, the postal address for marketing emails, the message
    /// frequency named in HELP answers.
    pub compliance: Option<ComplianceSettings>,
    /// Silent-lead recovery rules, replaced whole (at most 10; checked in order).
    pub recovery: Option<Vec<domain::recovery::RecoveryRule>>,
    /// Appointment reminders: offsets before the start and templates, replaced whole.
    pub reminders: Option<store::ReminderSettings>,
    /// Secrets to set (a string) or remove (`null`), by name.
    pub secrets: Option<BTreeMap<String, Option<String>>>,
}

fn mask(name: &str, value: &str) -> String {
    let tail: String = value
        .chars()
        .rev()
        .filter(|c| name != "tax_id" || c.is_ascii_digit())
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if name == "tax_id" {
        format!("***-**-{tail}")
    } else {
        format!("••••{tail}")
    }
}

async fn view(state: &AppState, tenant: domain::Tenant) -> ApiResult<SettingsView> {
    let org = state
        .engine
        .store
        .get_tenant(tenant.id())
        .await?
        .ok_or_else(ApiError::not_found)?;
    let stored = state.engine.store.get_tenant_secrets(tenant).await?;
    let secrets = SECRETS
        .iter()
        .map(|name| {
            let value = stored.get(*name);
            (
                (*name).to_owned(),
                SecretView {
                    set: value.is_some(),
                    hint: value.map(|v| mask(name, v)),
                },
            )
        })
        .collect();
    Ok(SettingsView {
        name: org.name,
        settings: org.settings,
        secrets,
    })
}

/// The organisation's settings; secrets show only whether they are set.
#[utoipa::path(
    get, path = "/api/v1/settings", tag = "settings",
    responses(
        (status = 200, description = "The settings", body = SettingsView),
        (status = 403, description = "The role or key may not read settings", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["settings:read"]), ("session" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth<scope::SettingsRead>,
) -> ApiResult<Json<SettingsView>> {
    Ok(Json(view(&state, auth.tenant).await?))
}

/// Changes the fields given (owners and admins, or a key with `settings:write`).
#[utoipa::path(
    put, path = "/api/v1/settings", tag = "settings", request_body = UpdateSettings,
    responses(
        (status = 200, description = "The settings after the change", body = SettingsView),
        (status = 403, description = "The role or key may not change settings", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over 50 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["settings:write"]), ("session" = []))
)]
pub async fn put(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth<scope::SettingsWrite>,
    body: ApiJson<UpdateSettings>,
) -> ApiResult<Json<SettingsView>> {
    if body.raw.len() > MAX_SETTINGS_BODY {
        return Err(ApiError::too_large(MAX_SETTINGS_BODY));
    }
    let update = body.value;
    let store = &state.engine.store;
    let org = store
        .get_tenant(auth.tenant.id())
        .await?
        .ok_or_else(ApiError::not_found)?;
    let mut settings = org.settings.clone();
    let mut errors = Vec::new();
    let mut changed = Vec::new();
    let mut check = |field: &str, ok: Result<(), String>| {
        if let Err(message) = ok {
            errors.push(FieldError {
                field: field.to_owned(),
                message,
            });
        }
    };
    let text = |v: &str, max: usize| {
        let n = v.trim().chars().count();
        if n == 0 || n > max {
            Err(format!("must be 1 to {max} characters"))
        } else {
            Ok(())
        }
    };
    let template = |v: &str| engine::templates::validate(v).map_err(|e| e.to_string());
    macro_rules! apply {
        ($field:ident, $validate:expr) => {
            if let Some(value) = update.$field {
                let value = value.trim().to_owned();
                check(stringify!($field), $validate(&value));
                settings.$field = value;
                changed.push(stringify!($field));
            }
        };
    }
    apply!(business_name, |v: &str| text(v, 200));
    apply!(default_region, |v: &str| {
        if v.len() == 2 && v.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(())
        } else {
            Err("must be an ISO 3166 region code in capitals, such as US".to_owned())
        }
    });
    apply!(first_response_sms, template);
    apply!(first_response_email_subject, template);
    apply!(first_response_email_body, template);
    apply!(missed_call_sms, template);
    apply!(sms_from, |v: &str| Phone::parse_e164(v)
        .map(|_| ())
        .map_err(|e| format!("must be a number in E.164 form: {e}")));
    apply!(email_from, |v: &str| Email::parse(v)
        .map(|_| ())
        .map_err(|e| e.to_string()));
    apply!(support_contact, |v: &str| text(v, 200));
    if let Some(compliance) = update.compliance {
        for (field, message) in compliance_problems(&compliance) {
            check(&format!("compliance.{field}"), Err(message));
        }
        settings.compliance = compliance;
        changed.push("compliance");
    }
    if let Some(rules) = update.recovery {
        if rules.len() > 10 {
            check("recovery", Err("at most 10 rules".to_owned()));
        }
        for (i, rule) in rules.iter().enumerate() {
            for (field, message) in rule.problems(&format!("recovery[{i}]")) {
                check(&field, Err(message));
            }
            let live = store
                .get_sequence(auth.tenant, rule.sequence_id, None)
                .await?
                .is_some_and(|s| s.archived_at.is_none());
            if !live {
                check(
                    &format!("recovery[{i}].sequence_id"),
                    Err("no live sequence of this organisation has this id".to_owned()),
                );
            }
        }
        settings.recovery = rules;
        changed.push("recovery");
    }
    if let Some(reminders) = update.reminders {
        for (field, message) in engine::appointments::reminder_problems(&reminders) {
            check(&format!("reminders.{field}"), Err(message));
        }
        settings.reminders = reminders;
        changed.push("reminders");
    }

    let mut secret_changes = Vec::new();
    for (name, value) in update.secrets.unwrap_or_default() {
        let field = format!("secrets.{name}");
        if !SECRETS.contains(&name.as_str()) {
            check(
                &field,
                Err(format!(
                    "unknown secret; known: {} (provider credentials: PUT /api/v1/integrations/{{provider}})",
                    SECRETS.join(", ")
                )),
            );
            continue;
        }
        if let Some(v) = &value {
            let valid = if name == "tax_id" {
                let digits = v.chars().filter(char::is_ascii_digit).count();
                if digits == 9 && v.chars().all(|c| c.is_ascii_digit() || c == '-') {
                    Ok(())
                } else {
                    Err("must be 9 digits (EIN 12-3456789 or SSN 123-45-6789)".to_owned())
                }
            } else {
                text(v, 512)
            };
            check(&field, valid);
        }
        secret_changes.push((name, value));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let now = state.engine.clock.wall_now();
    if !changed.is_empty() {
        store.update_tenant_settings(auth.tenant, &settings).await?;
        // The brand an email provider shows may have changed.
        state.engine.forget_route(auth.tenant);
    }
    if !secret_changes.is_empty() {
        store
            .set_tenant_secrets(auth.tenant, &secret_changes, now)
            .await?;
    }
    let (set, removed): (Vec<_>, Vec<_>) = secret_changes.iter().partition(|(_, v)| v.is_some());
    state
        .audit(AuditEvent {
            tenant: Some(auth.tenant.id()),
            actor: auth.actor.audit_actor(),
            action: "settings.update",
            target_kind: "organisation",
            target_id: auth.tenant.id().to_string(),
            ip,
            // Names only: never a value, secret or not.
            detail: serde_json::json!({
                "fields": changed,
                "secrets_set": set.iter().map(|(n, _)| n).collect::<Vec<_>>(),
                "secrets_removed": removed.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            }),
        })
        .await?;
    Ok(Json(view(&state, auth.tenant).await?))
}

/// What is wrong with an organisation's compliance settings, by field.
fn compliance_problems(c: &ComplianceSettings) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if let Some(q) = &c.quiet_hours {
        let from = q.from.parse::<jiff::civil::Time>();
        let until = q.until.parse::<jiff::civil::Time>();
        match (from, until) {
            (Ok(from), Ok(until)) if from < until => {}
            (Ok(_), Ok(_)) => problems.push((
                "quiet_hours.until".to_owned(),
                "must be after `from` (the window is within one day)".to_owned(),
            )),
            (from, until) => {
                if from.is_err() {
                    problems.push(("quiet_hours.from".to_owned(), "must be HH:MM".to_owned()));
                }
                if until.is_err() {
                    problems.push(("quiet_hours.until".to_owned(), "must be HH:MM".to_owned()));
                }
            }
        }
    }
    if c.caps.len() > 5 {
        problems.push(("caps".to_owned(), "at most 5 caps".to_owned()));
    }
    for (i, cap) in c.caps.iter().enumerate() {
        if cap.limit == 0 || cap.limit > 1000 {
            problems.push((format!("caps[{i}].limit"), "must be 1 to 1000".to_owned()));
        }
        if cap.hours == 0 || cap.hours > 24 * 31 {
            problems.push((format!("caps[{i}].hours"), "must be 1 to 744".to_owned()));
        }
    }
    for (field, value, max) in [
        ("texas_registration", &c.texas_registration, 100),
        ("postal_address", &c.postal_address, 500),
        ("message_frequency", &c.message_frequency, 100),
    ] {
        if let Some(v) = value
            && (v.trim().is_empty() || v.chars().count() > max)
        {
            problems.push((
                field.to_owned(),
                format!("must be 1 to {max} characters, or null"),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compliance_settings_are_checked_field_by_field() {
        let bad: ComplianceSettings = serde_json::from_value(serde_json::json!({
            "quiet_hours": { "from": "19:00", "until": "09:00" },
            "caps": [{ "limit": 0, "hours": 24 }, { "limit": 3, "hours": 0 }],
            "postal_address": "  ",
        }))
        .unwrap();
        let fields: Vec<String> = compliance_problems(&bad)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(
            fields,
            [
                "quiet_hours.until",
                "caps[0].limit",
                "caps[1].hours",
                "postal_address"
            ]
        );
        let good: ComplianceSettings = serde_json::from_value(serde_json::json!({
            "quiet_hours": { "from": "09:00", "until": "19:30" },
            "caps": [{ "limit": 3, "hours": 24 }],
            "texas_registration": "TX-12345",
            "postal_address": "1 Main St, Austin, TX 78701",
        }))
        .unwrap();
        assert!(compliance_problems(&good).is_empty());
    }

    #[test]
    fn secrets_show_only_their_last_characters() {
        assert_eq!(mask("tax_id", "12-3456789"), "***-**-6789");
        assert_eq!(mask("tax_id", "123-45-1234"), "***-**-1234");
        assert_eq!(mask("sendgrid_api_key", "SG.abcdefgh"), "••••efgh");
    }
}
