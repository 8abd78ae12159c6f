//! The API's handlers, one module per resource.

pub mod accounts;
pub mod ai;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod compliance;
pub mod conversation;
pub mod followup;
pub mod hooks;
pub mod integrations;
pub mod jobs;
pub mod leads;
pub mod messages;
pub mod ops;
pub mod platform;
pub mod provider_hooks;
pub mod sandbox;
pub mod sequences;
pub mod settings;
pub mod sources;
pub mod support;
pub mod unsubscribe;
