//! Fetching a URL a remote user handed over (an XMPP attachment link), under the bridge's
//! bounds: http(s) only, only addresses [`AddressPolicy`] permits, the connection made to the
//! very address that was checked (a second DNS answer cannot swap in another: no rebinding),
//! redirects followed by hand up to `limits.fetch_max_redirects` with every hop checked the
//! same way, and the body held to `limits.media_max_bytes`.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use url::{Host, Url};

use crate::config::LimitsConfig;
use crate::media_cap::{MediaCap, TooLarge};
use crate::net_guard::{AddressPolicy, classify};

/// The bounds of one fetch.
#[derive(Clone, Copy, Debug)]
pub struct FetchPolicy {
    /// Which addresses may be contacted.
    pub addresses: AddressPolicy,
    /// Redirects followed at most.
    pub max_redirects: u8,
    /// Largest body accepted.
    pub cap: MediaCap,
    /// Time allowed for each request (the caller may bound the whole fetch as well).
    pub timeout: Duration,
}

impl FetchPolicy {
    /// The policy `limits:` asks for, with `timeout` per request.
    pub fn from_limits(limits: &LimitsConfig, timeout: Duration) -> Self {
        Self {
            addresses: AddressPolicy::from_limits(limits),
            max_redirects: limits.fetch_max_redirects,
            cap: MediaCap::new(limits.media_max_bytes),
            timeout,
        }
    }
}

/// A fetched body.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub data: Bytes,
    /// The MIME type from Content-Type, parameters removed.
    pub mime: Option<String>,
    /// Where the body came from, after redirects.
    pub url: Url,
}

/// Why a URL was not fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("not a URL: {0}")]
    BadUrl(String),
    #[error("only http and https are fetched, not {0}:")]
    Scheme(String),
    #[error("{host} did not resolve: {reason}")]
    Resolve { host: String, reason: String },
    #[error("{host} is {reason} ({addr}); private addresses are not fetched")]
    Refused {
        host: String,
        addr: std::net::IpAddr,
        reason: &'static str,
    },
    #[error("more than {0} redirects")]
    TooManyRedirects(u8),
    #[error("redirect without a usable Location")]
    BadRedirect,
    #[error("HTTP status {0}")]
    Status(u16),
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    #[error("request failed: {0}")]
    Http(String),
}

/// Fetches `url` under `policy`.
pub async fn fetch(url: &str, policy: &FetchPolicy) -> Result<Fetched, FetchError> {
    let mut url = Url::parse(url).map_err(|e| FetchError::BadUrl(e.to_string()))?;
    let mut redirects = 0u8;
    loop {
        let resp = request(&url, policy).await?;
        let status = resp.status();
        if status.is_redirection() {
            if redirects >= policy.max_redirects {
                return Err(FetchError::TooManyRedirects(policy.max_redirects));
            }
            redirects += 1;
            url = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|loc| url.join(loc).ok())
                .ok_or(FetchError::BadRedirect)?;
            continue;
        }
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        return read(resp, url, policy.cap).await;
    }
}

/// One request to `url`, connected only to checked addresses, redirects not followed.
async fn request(url: &Url, policy: &FetchPolicy) -> Result<reqwest::Response, FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::Scheme(url.scheme().to_owned()));
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| FetchError::BadUrl(url.to_string()))?;
    let host = url
        .host()
        .ok_or_else(|| FetchError::BadUrl(format!("{url} has no host")))?;
    // reqwest is built without a default TLS provider; installing one is a no-op when the
    // binary did, and keeps building a client panic-free.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve the name itself, past the check.
        .no_proxy()
        .timeout(policy.timeout)
        .user_agent(concat!("ferrybridge/", env!("CARGO_PKG_VERSION")));
    match host {
        Host::Ipv4(ip) => check(policy, &ip.to_string(), ip.into())?,
        Host::Ipv6(ip) => check(policy, &ip.to_string(), ip.into())?,
        Host::Domain(name) => {
            let addrs = resolve(name, port, policy).await?;
            builder = builder.resolve_to_addrs(name, &addrs);
        }
    }
    let client = builder
        .build()
        .map_err(|e| FetchError::Http(format!("building the HTTP client: {e}")))?;
    client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| FetchError::Http(e.to_string()))
}

/// The addresses of `name` that may be contacted: all of them must pass, so a name that also
/// points inside is refused as a whole (its owner is trying something).
async fn resolve(
    name: &str,
    port: u16,
    policy: &FetchPolicy,
) -> Result<Vec<SocketAddr>, FetchError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| FetchError::Resolve {
            host: name.to_owned(),
            reason: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(FetchError::Resolve {
            host: name.to_owned(),
            reason: "no addresses".into(),
        });
    }
    for addr in &addrs {
        check(policy, name, addr.ip())?;
    }
    Ok(addrs)
}

fn check(policy: &FetchPolicy, host: &str, ip: std::net::IpAddr) -> Result<(), FetchError> {
    if policy.addresses.permits(ip) {
        return Ok(());
    }
    Err(FetchError::Refused {
        host: host.to_owned(),
        addr: ip,
        reason: classify(ip).unwrap_or("not public"),
    })
}

/// Reads the body, refusing it up front by Content-Length and cutting it at the cap.
async fn read(mut resp: reqwest::Response, url: Url, cap: MediaCap) -> Result<Fetched, FetchError> {
    cap.check(resp.content_length())?;
    let mime = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
        .filter(|v| !v.is_empty());
    let mut counter = cap.counter();
    let mut data = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| FetchError::Http(e.to_string()))?
    {
        counter.add(chunk.len())?;
        data.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        data: data.into(),
        mime,
        url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{Router, body::Body, http::StatusCode, response::IntoResponse, routing::get};
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    /// A local server: `/file` (10 bytes), `/big` (2000 bytes, Content-Length), `/stream` (2000
    /// bytes chunked), `/hop/{n}` redirecting down to `/file`, `/away` to 127.0.0.2; counts hits.
    async fn server() -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = Router::new()
            .route(
                "/file",
                get(|| async {
                    (
                        [("content-type", "text/plain; charset=utf-8")],
                        "0123456789",
                    )
                }),
            )
            .route("/big", get(|| async { vec![b'x'; 2000] }))
            .route(
                "/stream",
                get(|| async {
                    let chunks =
                        (0..20).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 100])));
                    Body::from_stream(futures::stream::iter(chunks))
                }),
            )
            .route(
                "/hop/{n}",
                get(
                    |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                        let to = if n == 0 {
                            "/file".to_owned()
                        } else {
                            format!("/hop/{}", n - 1)
                        };
                        (StatusCode::FOUND, [("location", to)]).into_response()
                    },
                ),
            )
            .route(
                "/nowhere",
                get(|| async {
                    (StatusCode::FOUND, [("location", "gopher://x/")]).into_response()
                }),
            )
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let h = h.clone();
                    async move {
                        h.fetch_add(1, Ordering::SeqCst);
                        next.run(req).await
                    }
                },
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (format!("http://{addr}"), hits)
    }

    fn policy(addresses: AddressPolicy) -> FetchPolicy {
        FetchPolicy {
            addresses,
            max_redirects: 3,
            cap: MediaCap::new(1000),
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn private_addresses_are_refused_before_connecting() {
        let (base, hits) = server().await;
        let err = fetch(
            &format!("{base}/file"),
            &policy(AddressPolicy::public_only()),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::Refused {
                    reason: "loopback",
                    ..
                }
            ),
            "{err}"
        );
        let port = base.rsplit(':').next().unwrap();
        let err = fetch(
            &format!("http://localhost:{port}/file"),
            &policy(AddressPolicy::public_only()),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, FetchError::Refused { .. }), "{err}");
        let err = fetch(
            &format!("http://[::ffff:127.0.0.1]:{port}/file"),
            &policy(AddressPolicy::public_only()),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, FetchError::Refused { .. }), "{err}");
        assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the server");
    }

    #[tokio::test]
    async fn allowed_fetches_return_the_body_and_type() {
        let (base, _) = server().await;
        let got = fetch(&format!("{base}/file"), &policy(AddressPolicy::allow_all()))
            .await
            .unwrap();
        assert_eq!(&got.data[..], b"0123456789");
        assert_eq!(got.mime.as_deref(), Some("text/plain"));
    }

    #[tokio::test]
    async fn only_http_and_https() {
        for url in ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/"] {
            let err = fetch(url, &policy(AddressPolicy::allow_all()))
                .await
                .unwrap_err();
            assert!(matches!(err, FetchError::Scheme(_)), "{url}: {err}");
        }
        assert!(matches!(
            fetch("not a url", &policy(AddressPolicy::allow_all())).await,
            Err(FetchError::BadUrl(_))
        ));
    }

    #[tokio::test]
    async fn redirects_are_followed_up_to_the_limit_and_checked() {
        let (base, hits) = server().await;
        let allow = policy(AddressPolicy::allow_all());
        let got = fetch(&format!("{base}/hop/2"), &allow).await.unwrap();
        assert_eq!(&got.data[..], b"0123456789");
        assert!(got.url.path().ends_with("/file"));
        hits.store(0, Ordering::SeqCst);
        let err = fetch(&format!("{base}/hop/3"), &allow).await.unwrap_err();
        assert!(matches!(err, FetchError::TooManyRedirects(3)), "{err}");
        assert_eq!(
            hits.load(Ordering::SeqCst),
            4,
            "the 4th redirect is not followed"
        );
        let err = fetch(&format!("{base}/nowhere"), &allow).await.unwrap_err();
        assert!(
            matches!(err, FetchError::Scheme(_)),
            "each hop is checked: {err}"
        );
    }

    #[tokio::test]
    async fn bodies_over_the_cap_are_refused_or_cut() {
        let (base, _) = server().await;
        let allow = policy(AddressPolicy::allow_all());
        let err = fetch(&format!("{base}/big"), &allow).await.unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::TooLarge(TooLarge {
                    size: Some(2000),
                    limit: 1000
                })
            ),
            "{err}"
        );
        let err = fetch(&format!("{base}/stream"), &allow).await.unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::TooLarge(TooLarge {
                    size: None,
                    limit: 1000
                })
            ),
            "{err}"
        );
    }
}
