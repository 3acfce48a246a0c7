//! A fake Plex Media Server (spec §7 and §11): `GET /identity` without a token, `GET /` that
//! wants a known `X-Plex-Token`, and a stand-in for Plex Web at `/web/index.html` whose script
//! does what Plex Web does first: read `localStorage.myPlexAccessToken` of its origin.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::{serve, Running};

/// A running fake PMS.
pub struct FakePms {
    pub server: Running,
    pub machine_id: String,
}

struct Fake {
    machine_id: String,
    tokens: Vec<String>,
}

impl FakePms {
    /// Starts it on 127.0.0.1:0, accepting `tokens`.
    pub async fn start(machine_id: &str, tokens: Vec<String>) -> FakePms {
        let fake = Arc::new(Fake {
            machine_id: machine_id.into(),
            tokens,
        });
        let router = Router::new()
            .route("/identity", get(identity))
            .route("/", get(root))
            .route("/web/index.html", get(web))
            .with_state(fake);
        FakePms {
            server: serve(router).await,
            machine_id: machine_id.into(),
        }
    }
}

async fn identity(State(f): State<Arc<Fake>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/xml;charset=utf-8")],
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MediaContainer size=\"0\" claimed=\"1\" machineIdentifier=\"{}\" version=\"1.41.3\"></MediaContainer>",
            f.machine_id
        ),
    )
        .into_response()
}

async fn root(
    State(f): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> StatusCode {
    let token = headers
        .get("x-plex-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| q.get("X-Plex-Token").cloned());
    match token {
        Some(t) if f.tokens.contains(&t) => StatusCode::OK,
        _ => StatusCode::UNAUTHORIZED,
    }
}

async fn web() -> Html<&'static str> {
    Html(
        "<!doctype html><html><head><title>Plex</title></head><body><p id=\"state\">loading</p>\
         <script>var t = localStorage.getItem('myPlexAccessToken');\
         document.getElementById('state').textContent = t ? 'plex-token:' + t : 'plex-signed-out';\
         </script></body></html>",
    )
}
