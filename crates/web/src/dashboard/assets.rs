//! The dashboard's own style sheet and script, compiled into the binary and served under names
//! that carry a hash of their content, so a browser may keep them for a year and never runs an
//! old script against a new page.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");

struct Named {
    css: String,
    js: String,
}

static NAMES: LazyLock<Named> = LazyLock::new(|| Named {
    css: format!("/app/assets/app-{}.css", short_hash(CSS)),
    js: format!("/app/assets/app-{}.js", short_hash(JS)),
});

fn short_hash(content: &str) -> String {
    hex::encode(&crypto::sha256(content.as_bytes())[..6])
}

/// Where pages link the style sheet.
pub fn css_path() -> &'static str {
    &NAMES.css
}

/// Where pages load the script.
pub fn js_path() -> &'static str {
    &NAMES.js
}

/// Serves an asset by its hashed name; any other name is 404.
pub async fn serve(Path(name): Path<String>) -> Response {
    let path = format!("/app/assets/{name}");
    let (body, kind) = if path == NAMES.css {
        (CSS, "text/css; charset=utf-8")
    } else if path == NAMES.js {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return super::PageError::NotFound.into_response();
    };
    let mut res = (StatusCode::OK, body).into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    res
}
