//! Emails about a user's own account (password resets, invitations).
//!
//! They go to users, not leads: compliance decides them with the account-email exemption (no
//! quiet hours, never marketing, email only), and they are not recorded as messages, because
//! they carry single-use tokens that no organisation member should be able to read back. They
//! carry the header [`ACCOUNT_EMAIL_HEADER`], which lets the sandbox show them (and only them) to
//! the person at the machine.

use compliance::{Context, Decision, Exemption, Location, Policy, Recipient, decide};
use domain::{Channel, Email, MessageId, Purpose};
use providers::{OutboundEmail, ProviderError};

use crate::Engine;

/// Why an account email did not go.
#[derive(Debug, thiserror::Error)]
pub enum AccountEmailError {
    #[error("compliance refused the account email: {0}")]
    Refused(String),
    #[error("the email provider failed: {0}")]
    Provider(#[from] ProviderError),
}

/// Marks an email as an account email (`X-Leadline-Category: account`).
pub const ACCOUNT_EMAIL_HEADER: (&str, &str) = ("X-Leadline-Category", "account");

impl Engine {
    /// Sends one account email now.
    #[tracing::instrument(skip_all, fields(to = %to.masked()))]
    pub async fn send_account_email(
        &self,
        from: &str,
        to: &Email,
        subject: &str,
        text: &str,
    ) -> Result<(), AccountEmailError> {
        // An account email goes to a user, not a lead: no lead facts, no organisation rules.
        let location = Location::unknown();
        let decision = decide(&Context {
            now: self.clock.now(),
            channel: Channel::Email,
            purpose: Purpose::Transactional,
            to: to.as_str(),
            location: &location,
            exemption: Exemption::AccountEmail,
            recipient: &Recipient::default(),
            policy: &Policy::default(),
        });
        let permit = match decision {
            Decision::Send(permit) => permit,
            Decision::Defer { reasons, .. } | Decision::Block { reasons } => {
                let rules: Vec<_> = reasons.iter().map(|r| r.rule).collect();
                return Err(AccountEmailError::Refused(rules.join(", ")));
            }
        };
        self.email
            .send_email(
                &permit,
                &OutboundEmail {
                    message_id: MessageId::new(),
                    from: from.to_owned(),
                    to: to.as_str().to_owned(),
                    subject: subject.to_owned(),
                    text: text.to_owned(),
                    headers: vec![(
                        ACCOUNT_EMAIL_HEADER.0.to_owned(),
                        ACCOUNT_EMAIL_HEADER.1.to_owned(),
                    )],
                    attachments: Vec::new(),
                },
            )
            .await?;
        tracing::info!("account email sent");
        Ok(())
    }
}
