//! The store conformance suite on PostgreSQL, one fresh schema per scenario.

mod common;

use std::sync::Arc;

use store::Store;

async fn make() -> Option<(Arc<dyn Store>, common::SchemaGuard)> {
    let (store, guard) = common::fresh_store().await?;
    Some((Arc::new(store), guard))
}

store::conformance_tests!(make);
