//! `recovery_scan`: one pass of silent-lead recovery over every organisation, then the next
//! slot's pass queued (see `crate::recovery`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Job, JobError, JobInfo, Outcome};
use crate::Engine;
use crate::recovery::{SCAN_EVERY, scan_job};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryScan {}

#[async_trait]
impl Job for RecoveryScan {
    const NAME: &'static str = "recovery_scan";

    async fn run(self, engine: &Engine, _info: &JobInfo) -> Result<Outcome, JobError> {
        let now = engine.clock.now();
        engine
            .recover(now)
            .await
            .map_err(|e| JobError::transient(anyhow::anyhow!("recovery scan: {e}")))?;
        engine
            .store
            .enqueue(scan_job(engine, now + SCAN_EVERY))
            .await?;
        Ok(Outcome::Done)
    }
}
