//! The Anthropic Messages API (`POST /v1/messages`), for the AI writer of follow-up messages.
//!
//! One request, one answer: a system prompt and one user turn, the text of the answer's text
//! blocks, and the tokens it used (for the organisation's budget and the message's cost). An
//! error answer (`{"type": "error", "error": {"type", "message"}}`) is read like any provider
//! failure: rate limits (429), overload (529) and 5xx are transient, with `retry-after` kept;
//! the rest permanent. The API key never appears in errors or logs.

use serde::{Deserialize, Serialize};

use crate::ProviderError;
use crate::http;

/// Anthropic's API.
pub const API_BASE: &str = "https://api.anthropic.com";
/// The API version this client speaks.
pub const VERSION: &str = "2023-06-01";

/// An organisation's key and the model it pays for.
#[derive(Clone)]
pub struct Account {
    pub api_key: String,
    pub model: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("api_key", &"<redacted>")
            .field("model", &self.model)
            .finish()
    }
}

#[derive(Debug, Serialize)]
struct Request<'a> {
    model: &'a str,
    max_tokens: u32,
    system: &'a str,
    messages: [Turn<'a>; 1],
    temperature: f32,
}

#[derive(Debug, Serialize)]
struct Turn<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    usage: Usage,
}

#[derive(Debug, Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

/// Tokens a call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Deserialize)]
struct ErrorAnswer {
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    message: String,
}

/// What the model wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Anthropic's id of the answer (`msg_...`).
    pub id: String,
    pub model: String,
    pub text: String,
    pub usage: Usage,
    /// The answer was cut at `max_tokens`.
    pub truncated: bool,
}

/// A Messages API client for one account.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    api_base: String,
    account: Account,
}

impl Client {
    pub fn new(http: reqwest::Client, api_base: &str, account: Account) -> Self {
        Self {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            account,
        }
    }

    /// Asks for one answer to `prompt` under `system`, at most `max_tokens` long.
    pub async fn write(
        &self,
        system: &str,
        prompt: &str,
        max_tokens: u32,
    ) -> Result<Written, ProviderError> {
        let body = Request {
            model: &self.account.model,
            max_tokens,
            system,
            messages: [Turn {
                role: "user",
                content: prompt,
            }],
            temperature: 0.4,
        };
        let (status, headers, bytes) = http::exchange(
            self.http
                .post(format!("{}/v1/messages", self.api_base))
                .header("x-api-key", &self.account.api_key)
                .header("anthropic-version", VERSION)
                .json(&body),
        )
        .await?;
        if status.is_success() {
            let answer: Answer = serde_json::from_slice(&bytes)
                .map_err(|_| http::unreadable("Anthropic's answer"))?;
            let text: String = answer
                .content
                .iter()
                .filter(|b| b.kind == "text")
                .filter_map(|b| b.text.as_deref())
                .collect::<Vec<_>>()
                .join("");
            return Ok(Written {
                id: answer.id,
                model: answer.model,
                text,
                usage: answer.usage,
                truncated: answer.stop_reason.as_deref() == Some("max_tokens"),
            });
        }
        let (code, message) = match serde_json::from_slice::<ErrorAnswer>(&bytes) {
            Ok(e) => (e.error.kind, e.error.message.chars().take(200).collect()),
            Err(_) => (status.as_u16().to_string(), String::new()),
        };
        // 529: Anthropic is overloaded; `by_status` takes every 5xx as transient.
        Err(http::by_status(status, &headers, code, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_their_text_blocks_and_usage() {
        let body = br#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-x",
            "content":[{"type":"text","text":"Hi {{ first_name }}, "},{"type":"text","text":"still there?"}],
            "stop_reason":"end_turn","stop_sequence":null,
            "usage":{"input_tokens":120,"output_tokens":14}}"#;
        let a: Answer = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.usage.input_tokens, 120);
        assert_eq!(a.content.len(), 2);
    }

    #[test]
    fn the_key_is_not_in_debug_output() {
        let a = Account {
            api_key: "sk-ant-secret".into(),
            model: "m".into(),
        };
        assert!(!format!("{a:?}").contains("secret"));
    }
}
