//! Links to Matrix media for people on the remote side (an IRC user gets a URL, not a file).
//!
//! Homeservers now require authentication to download media, so a plain homeserver URL no
//! longer works for them. When `appservice.public_address` is set, the bridge serves the media
//! itself at `/_ferrybridge/media/{server}/{id}/{expires}.{signature}/{filename}`, streaming it
//! from the homeserver with its own token. The signature (an HMAC keyed by the hs_token, over
//! the media and the expiry time) stops the endpoint from being an open proxy to the
//! homeserver's whole media repository: only media the bridge linked can be fetched, and only
//! for `limits.media_link_ttl_secs` (then 410 Gone; a forged or altered link is 404). Files
//! over `limits.media_max_bytes` are refused (413) or cut off, never held in memory whole.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::TryStreamExt;
use hmac::{Hmac, KeyInit, Mac};
use ruma::{MxcUri, OwnedMxcUri};
use sha2::Sha256;

use crate::config::LimitsConfig;
use crate::matrix::MatrixClient;
use crate::media_cap::MediaCap;

/// Bytes of HMAC kept in a link: enough to be unguessable, short enough for an IRC line.
const SIGNATURE_BYTES: usize = 12;

/// Makes (and serves) links to media.
#[derive(Clone)]
pub struct MediaLinks {
    base: Option<url::Url>,
    key: Vec<u8>,
    matrix: MatrixClient,
    ttl: Duration,
    cap: MediaCap,
}

/// What a link's token says about it.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Valid,
    /// Signed by us, but past its expiry (or from before links expired).
    Expired,
    /// Not signed by us for this media and time.
    Forged,
}

impl MediaLinks {
    /// Links served under `public_address` (or homeserver links when `None`), signed with
    /// `key`, valid for `limits.media_link_ttl_secs`, for files up to `limits.media_max_bytes`.
    pub fn new(
        public_address: Option<url::Url>,
        key: &str,
        matrix: MatrixClient,
        limits: &LimitsConfig,
    ) -> Self {
        Self {
            base: public_address,
            key: key.as_bytes().to_vec(),
            matrix,
            ttl: limits.media_link_ttl(),
            cap: MediaCap::new(limits.media_max_bytes),
        }
    }

    /// A URL for `mxc` that someone without a Matrix account can open (until it expires).
    pub fn url(&self, mxc: &MxcUri, filename: Option<&str>) -> String {
        let expires = now_secs().saturating_add(self.ttl.as_secs());
        self.url_expiring(mxc, filename, expires)
    }

    fn url_expiring(&self, mxc: &MxcUri, filename: Option<&str>, expires: u64) -> String {
        let (Some(base), Ok((server, id))) = (&self.base, mxc.parts()) else {
            return self.matrix.public_media_url(&mxc.to_owned());
        };
        let name = filename.filter(|f| !f.is_empty()).unwrap_or("file");
        let token = format!("{expires}.{}", self.sign(server.as_str(), id, expires));
        let mut url = base.clone();
        match url.path_segments_mut() {
            Ok(mut segments) => {
                segments.pop_if_empty().extend([
                    "_ferrybridge",
                    "media",
                    server.as_str(),
                    id,
                    &token,
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
            .route(
                "/_ferrybridge/media/{server}/{id}/{token}/{name}",
                get(serve),
            )
            .with_state(self.clone())
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable_key())
    }

    fn sign(&self, server: &str, id: &str, expires: u64) -> String {
        let mut mac = self.mac();
        mac.update(b"ferrybridge-media:v2:");
        mac.update(server.as_bytes());
        mac.update(b"/");
        mac.update(id.as_bytes());
        mac.update(b":");
        mac.update(expires.to_string().as_bytes());
        let digest = mac.finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&digest[..SIGNATURE_BYTES])
    }

    /// The signature of links made before links expired (`{signature}` alone as the token).
    fn sign_unexpiring(&self, server: &str, id: &str) -> String {
        let mut mac = self.mac();
        mac.update(b"ferrybridge-media:");
        mac.update(server.as_bytes());
        mac.update(b"/");
        mac.update(id.as_bytes());
        let digest = mac.finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&digest[..SIGNATURE_BYTES])
    }

    fn verify(&self, server: &str, id: &str, token: &str, now: u64) -> Verdict {
        let same = |a: &str, b: &str| {
            bool::from(subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()))
        };
        match token.split_once('.') {
            Some((expires, sig)) => match expires.parse::<u64>() {
                Ok(expires) if same(&self.sign(server, id, expires), sig) => {
                    if now > expires {
                        Verdict::Expired
                    } else {
                        Verdict::Valid
                    }
                }
                _ => Verdict::Forged,
            },
            // A link from an older version: genuine, but with no expiry to honour.
            None if same(&self.sign_unexpiring(server, id), token) => Verdict::Expired,
            None => Verdict::Forged,
        }
    }
}

/// HMAC accepts keys of any length; this is never reached.
fn unreachable_key() -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(b"ferrybridge")
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

/// Seconds since the Unix epoch.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn serve(
    State(links): State<MediaLinks>,
    Path((server, id, token, _name)): Path<(String, String, String, String)>,
) -> Response {
    match links.verify(&server, &id, &token, now_secs()) {
        Verdict::Valid => {}
        Verdict::Expired => {
            return (StatusCode::GONE, "this media link has expired").into_response();
        }
        Verdict::Forged => return (StatusCode::NOT_FOUND, "no such media").into_response(),
    }
    let mxc = OwnedMxcUri::from(format!("mxc://{server}/{id}"));
    let download = match links.matrix.download_stream(&mxc).await {
        Ok(download) => download,
        Err(e) => {
            tracing::warn!(%mxc, error = %e, "media link could not be served");
            return (
                StatusCode::BAD_GATEWAY,
                "the homeserver did not return this media",
            )
                .into_response();
        }
    };
    if let Err(e) = links.cap.check(download.content_length) {
        tracing::info!(%mxc, error = %e, "media link refused");
        return (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).into_response();
    }
    let content_type = download
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let length = download.content_length;
    let stream = download.into_stream(links.cap).inspect_err(move |e| {
        // The client sees the connection end early; the log says why.
        tracing::warn!(%mxc, error = %e, "media link cut off");
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    // Never let a browser run media as a page of ours.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    fn limits(max: u64) -> LimitsConfig {
        LimitsConfig {
            media_max_bytes: max,
            media_link_ttl_secs: 3600,
            ..LimitsConfig::default()
        }
    }

    fn links_on(base: Option<&str>, homeserver: &str) -> MediaLinks {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let matrix = MatrixClient::new(
            &homeserver.parse().unwrap(),
            "as",
            "@bot:hs".try_into().unwrap(),
            true,
        )
        .unwrap()
        .with_retry_policy(crate::matrix::RetryPolicy {
            max_attempts: 1,
            max_total: Duration::from_secs(2),
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        });
        MediaLinks::new(
            base.map(|b| b.parse().unwrap()),
            "hs-token",
            matrix,
            &limits(1000),
        )
    }

    fn links(base: Option<&str>) -> MediaLinks {
        links_on(base, "http://hs.invalid")
    }

    /// A homeserver serving `small` (5 bytes), `big` (2000 bytes, Content-Length) and
    /// `chunked` (2000 bytes, no length) on the authenticated media endpoint.
    async fn homeserver() -> String {
        use axum::routing::get;
        let app = axum::Router::new()
            .route(
                "/_matrix/client/v1/media/download/hs/small",
                get(|| async { ([("content-type", "image/png")], "hello") }),
            )
            .route(
                "/_matrix/client/v1/media/download/hs/big",
                get(|| async { vec![b'x'; 2000] }),
            )
            .route(
                "/_matrix/client/v1/media/download/hs/chunked",
                get(|| async {
                    let chunks = (0..20)
                        .map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'y'; 100])));
                    Body::from_stream(futures::stream::iter(chunks))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}")
    }

    async fn get(l: &MediaLinks, url: &str) -> Response {
        let path = url.strip_prefix("https://bridge.example").unwrap();
        let req = axum::http::Request::get(path).body(Body::empty()).unwrap();
        l.router().oneshot(req).await.unwrap()
    }

    #[test]
    fn links_are_signed_and_stable() {
        let l = links(Some("https://bridge.example/"));
        let mxc = OwnedMxcUri::from("mxc://hs/abc");
        let url = l.url_expiring(&mxc, Some("cat pic.png"), 1_800_000_000);
        assert!(
            url.starts_with("https://bridge.example/_ferrybridge/media/hs/abc/1800000000."),
            "{url}"
        );
        assert!(url.ends_with("/cat%20pic.png"), "{url}");
        assert_eq!(
            url,
            l.url_expiring(&mxc, Some("cat pic.png"), 1_800_000_000)
        );
        assert_ne!(l.sign("hs", "abc", 1), l.sign("hs", "abd", 1));
        assert_ne!(l.sign("hs", "abc", 1), l.sign("hs", "abc", 2));
        assert_ne!(
            l.sign("hs", "abc", 1),
            links(Some("https://bridge.example/"))
                .with_key("other")
                .sign("hs", "abc", 1)
        );
    }

    #[test]
    fn links_expire_after_the_ttl() {
        let l = links(Some("https://bridge.example/"));
        let before = now_secs();
        let url = l.url(&OwnedMxcUri::from("mxc://hs/abc"), None);
        let token = url.split('/').nth_back(1).unwrap();
        let expires: u64 = token.split_once('.').unwrap().0.parse().unwrap();
        assert!(
            (before + 3600..=now_secs() + 3600).contains(&expires),
            "{url}"
        );
        assert_eq!(l.verify("hs", "abc", token, expires), Verdict::Valid);
        assert_eq!(l.verify("hs", "abc", token, expires + 1), Verdict::Expired);
        assert_eq!(l.verify("hs", "abd", token, expires), Verdict::Forged);
    }

    #[test]
    fn without_a_public_address_links_point_at_the_homeserver() {
        let url = links(None).url(&OwnedMxcUri::from("mxc://hs/abc"), None);
        assert!(
            url.starts_with("http://hs.invalid/_matrix/media/v3/download/"),
            "{url}"
        );
    }

    #[tokio::test]
    async fn a_valid_link_streams_the_media() {
        let l = links_on(Some("https://bridge.example/"), &homeserver().await);
        let resp = get(
            &l,
            &l.url(&OwnedMxcUri::from("mxc://hs/small"), Some("a.png")),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "image/png");
        assert_eq!(resp.headers()[header::CONTENT_LENGTH], "5");
        assert_eq!(resp.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], b"hello");
    }

    #[tokio::test]
    async fn forged_and_altered_links_are_not_found() {
        let l = links(Some("https://bridge.example/"));
        for path in [
            "/_ferrybridge/media/hs/abc/forged/x",
            "/_ferrybridge/media/hs/abc/1800000000.forged/x",
            "/_ferrybridge/media/hs/abc/notanumber.forged/x",
        ] {
            let resp = get(&l, &format!("https://bridge.example{path}")).await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        }
        // A genuine link with its expiry pushed back is no longer genuine.
        let url = l.url_expiring(&OwnedMxcUri::from("mxc://hs/abc"), None, 1_800_000_000);
        let altered = url.replace("/1800000000.", "/1900000000.");
        assert_eq!(get(&l, &altered).await.status(), StatusCode::NOT_FOUND);
        let other = url.replace("/hs/abc/", "/hs/abd/");
        assert_eq!(get(&l, &other).await.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn expired_links_are_gone() {
        let l = links(Some("https://bridge.example/"));
        let mxc = OwnedMxcUri::from("mxc://hs/abc");
        let url = l.url_expiring(&mxc, None, now_secs() - 1);
        assert_eq!(get(&l, &url).await.status(), StatusCode::GONE);
        // Links from before expiry existed are genuine but have none: gone, too.
        let legacy = format!(
            "https://bridge.example/_ferrybridge/media/hs/abc/{}/x",
            l.sign_unexpiring("hs", "abc")
        );
        assert_eq!(get(&l, &legacy).await.status(), StatusCode::GONE);
    }

    #[tokio::test]
    async fn media_over_the_cap_is_refused_by_length() {
        let l = links_on(Some("https://bridge.example/"), &homeserver().await);
        let resp = get(&l, &l.url(&OwnedMxcUri::from("mxc://hs/big"), None)).await;
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn media_over_the_cap_without_a_length_is_cut_off() {
        let l = links_on(Some("https://bridge.example/"), &homeserver().await);
        let resp = get(&l, &l.url(&OwnedMxcUri::from("mxc://hs/chunked"), None)).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "the status went out before the body"
        );
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await;
        assert!(body.is_err(), "the body must break off at the cap");
    }

    impl MediaLinks {
        fn with_key(mut self, key: &str) -> Self {
            self.key = key.as_bytes().to_vec();
            self
        }
    }
}
