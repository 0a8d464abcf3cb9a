//! What a Matrix user sees of others beyond the timeline: profiles and media bytes.

use anyhow::{Context, Result, anyhow, bail};
use reqwest::Method;
use ruma::UserId;

use super::TestUser;

impl TestUser {
    /// `user`'s avatar URL (`mxc://…`), or `None` when they have none.
    pub async fn avatar_url(&self, user: &UserId) -> Result<Option<String>> {
        let r = self
            .call(Method::GET, &["profile", user.as_str()], &[], None)
            .await?;
        Ok(r["avatar_url"]
            .as_str()
            .filter(|u| !u.is_empty())
            .map(str::to_owned))
    }

    /// The bytes of Matrix media, through the authenticated media API.
    pub async fn download(&self, mxc: &str) -> Result<bytes::Bytes> {
        let (server, id) = mxc
            .strip_prefix("mxc://")
            .and_then(|r| r.split_once('/'))
            .with_context(|| format!("not an mxc URI: {mxc}"))?;
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow!("base URL cannot have a path"))?
            .clear()
            .extend(["_matrix", "client", "v1", "media", "download", server, id]);
        let resp = self
            .http
            .get(url)
            .bearer_auth(&self.access_token)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("download {mxc}: HTTP {}", resp.status());
        }
        Ok(resp.bytes().await?)
    }
}
