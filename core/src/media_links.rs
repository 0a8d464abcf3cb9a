//! Links to Matrix media for people on the remote side (an IRC user gets a URL, not a file).
//!
//! Homeservers now require authentication to download media, so a plain homeserver URL no
//! longer works for them. When `appservice.public_address` is set, the bridge serves the media
//! itself at `/_ferrybridge/media/{server}/{id}/{signature}/{filename}`, fetching it with its own
//! token. The signature (an HMAC keyed by the hs_token) stops the endpoint from being an open
//! proxy to the homeserver's whole media repository: only media the bridge linked can be fetched.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use ruma::{MxcUri, OwnedMxcUri};
use sha2::Sha256;

use crate::matrix::MatrixClient;

/// Bytes of HMAC kept in a link: enough to be unguessable, short enough for an IRC line.
const SIGNATURE_BYTES: usize = 12;

/// Makes (and serves) links to media.
#[derive(Clone)]
pub struct MediaLinks {
    base: Option<url::Url>,
    key: Vec<u8>,
    matrix: MatrixClient,
}

impl MediaLinks {
    /// Links served under `public_address` (or homeserver links when `None`), signed with `key`.
    pub fn new(public_address: Option<url::Url>, key: &str, matrix: MatrixClient) -> Self {
        Self {
            base: public_address,
            key: key.as_bytes().to_vec(),
            matrix,
        }
    }

    /// A URL for `mxc` that someone without a Matrix account can open.
    pub fn url(&self, mxc: &MxcUri, filename: Option<&str>) -> String {
        let (Some(base), Ok((server, id))) = (&self.base, mxc.parts()) else {
            return self.matrix.public_media_url(&mxc.to_owned());
        };
        let name = filename.filter(|f| !f.is_empty()).unwrap_or("file");
        let mut url = base.clone();
        match url.path_segments_mut() {
            Ok(mut segments) => {
                segments.pop_if_empty().extend([
                    "_ferrybridge",
                    "media",
                    server.as_str(),
                    id,
                    &self.sign(server.as_str(), id),
                    name,
                ]);
            }
            Err(()) => return self.matrix.public_media_url(&mxc.to_owned()),
        }
        url.to_string()
    }

    /// The routes serving linked media (no token: the signature is the authorisation).
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/_ferrybridge/media/{server}/{id}/{sig}/{name}", get(serve))
            .with_state(self.clone())
    }

    fn sign(&self, server: &str, id: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable_key());
        mac.update(b"ferrybridge-media:");
        mac.update(server.as_bytes());
        mac.update(b"/");
        mac.update(id.as_bytes());
        let digest = mac.finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&digest[..SIGNATURE_BYTES])
    }
}

/// HMAC accepts keys of any length; this is never reached.
fn unreachable_key() -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(b"ferrybridge")
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

async fn serve(
    State(links): State<MediaLinks>,
    Path((server, id, sig, _name)): Path<(String, String, String, String)>,
) -> Response {
    let expected = links.sign(&server, &id);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        sig.as_bytes(),
    )) {
        return (StatusCode::NOT_FOUND, "no such media").into_response();
    }
    let mxc = OwnedMxcUri::from(format!("mxc://{server}/{id}"));
    match links.matrix.download(&mxc).await {
        Ok((bytes, content_type)) => {
            let mut response = bytes.into_response();
            let content_type = content_type.unwrap_or_else(|| "application/octet-stream".into());
            if let Ok(value) = HeaderValue::from_str(&content_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            // Never let a browser run media as a page of ours.
            response.headers_mut().insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox"),
            );
            response
        }
        Err(e) => {
            tracing::warn!(%mxc, error = %e, "media link could not be served");
            (
                StatusCode::BAD_GATEWAY,
                "the homeserver did not return this media",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(base: Option<&str>) -> MediaLinks {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let matrix = MatrixClient::new(
            &"http://hs.invalid".parse().unwrap(),
            "as",
            "@bot:hs".try_into().unwrap(),
            true,
        )
        .unwrap();
        MediaLinks::new(base.map(|b| b.parse().unwrap()), "hs-token", matrix)
    }

    #[test]
    fn links_are_signed_and_stable() {
        let l = links(Some("https://bridge.example/"));
        let mxc = OwnedMxcUri::from("mxc://hs/abc");
        let url = l.url(&mxc, Some("cat pic.png"));
        assert!(
            url.starts_with("https://bridge.example/_ferrybridge/media/hs/abc/"),
            "{url}"
        );
        assert!(url.ends_with("/cat%20pic.png"), "{url}");
        assert_eq!(url, l.url(&mxc, Some("cat pic.png")));
        assert_ne!(l.sign("hs", "abc"), l.sign("hs", "abd"));
        assert_ne!(
            l.sign("hs", "abc"),
            links(Some("https://bridge.example/"))
                .with_key("other")
                .sign("hs", "abc")
        );
    }

    #[test]
    fn without_a_public_address_links_point_at_the_homeserver() {
        let url = links(None).url(&OwnedMxcUri::from("mxc://hs/abc"), None);
        assert!(url.starts_with("http://hs.invalid/_matrix/media/"), "{url}");
    }

    #[tokio::test]
    async fn a_wrong_signature_is_not_found() {
        use tower::ServiceExt;
        let l = links(Some("https://bridge.example/"));
        let req = axum::http::Request::get("/_ferrybridge/media/hs/abc/forged/x")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = l.router().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }

    impl MediaLinks {
        fn with_key(mut self, key: &str) -> Self {
            self.key = key.as_bytes().to_vec();
            self
        }
    }
}
