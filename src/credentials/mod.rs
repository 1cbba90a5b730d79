//! Where an account's AccessKey comes from, and producing it at refresh time.
//!
//! This module owns every credential provider the exporter supports and the Alibaba Cloud
//! default credential chain (cams-api.md §8, issue #3 "Credentials"):
//!
//! - [`static_key`]: fixed keys (the environment, the demo) and keys whose secret and STS token
//!   live in files, read again when they change so a rotated Kubernetes Secret is picked up
//!   at the next refresh;
//! - [`sts`]: STS `AssumeRole` (signed with [`crate::signing::v1`]) and
//!   `AssumeRoleWithOIDC` (ACK RRSA);
//! - [`ecs`]: the ECS instance RAM role from the metadata service, hardened mode first;
//! - [`uri`]: a credentials URI (`ALIBABA_CLOUD_CREDENTIALS_URI`);
//! - [`profile`]: the aliyun CLI `config.json` and the INI `~/.alibabacloud/credentials`;
//! - [`chain`]: the default chain, in the SDKs' order;
//! - [`cache`]: caching of expiring credentials, refreshed before they expire, one refresh at a
//!   time however many accounts share them;
//! - [`context`]: the clock, endpoints, HTTP clients and shared caches every provider uses;
//! - [`config`]: the `credentials:` block of an account in the YAML file;
//! - `source`: [`Credentials`] and [`CredentialSource`], the sum of the above;
//! - `error`: [`CredentialError`]; `env`: the SDKs' environment variables; `secret`: secret
//!   files, masking and the one place a secret is exposed; `http`: the providers' requests.
//!
//! Secrets are never taken from flags (they would show in `ps` and shell history). Secret
//! values live in [`SecretString`](secrecy::SecretString), which prints as `[REDACTED]` and is zeroed on drop; no
//! `Debug`, [`CredentialSource::describe`] or error message contains one. The environment is
//! passed in as a function (`&dyn Fn(&str) -> Option<String>`) so that tests never read the
//! real process environment or home directory.

pub mod cache;
pub mod chain;
pub mod config;
pub mod context;
pub mod ecs;
mod env;
mod error;
mod http;
pub mod profile;
mod secret;
mod source;
pub mod static_key;
pub mod sts;
pub mod uri;

pub use cache::{Clock, ManualClock, SystemClock};
pub use config::CredentialsConfig;
pub use context::{Context, Options};
pub use env::*;
pub use error::CredentialError;
pub use secret::{expose, mask_id, read_secret_file};
pub use source::{CredentialSource, Credentials};
