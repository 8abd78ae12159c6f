//! The store conformance suite on SQLite, plus the check that nothing personal is in clear text
//! on disk.

use std::sync::Arc;

use store::Store;
use store_sqlite::SqliteStore;

async fn make() -> Option<(Arc<dyn Store>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("leadline.db").display());
    let cipher = crypto::Cipher::new(crypto::KeyRing::generate());
    let store = SqliteStore::open(&url, cipher)
        .await
        .expect("open SQLite store");
    Some((Arc::new(store), dir))
}

store::conformance_tests!(make);
