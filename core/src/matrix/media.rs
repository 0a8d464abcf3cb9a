//! The media repository (upload, download, public links) and alias resolution.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Method, header};
use ruma::{
    MxcUri, OwnedMxcUri, OwnedRoomAliasId, OwnedRoomId,
    api::client::{alias::get_alias, authenticated_media, media::create_content},
};

use super::{
    MatrixClient, MatrixError,
    transport::{Outgoing, join_segments},
};

/// Splits an `mxc://server/id` URI, or says why it cannot be used.
fn mxc_parts(mxc: &MxcUri) -> Result<(&ruma::ServerName, &str), MatrixError> {
    mxc.parts()
        .map_err(|e| MatrixError::Format(format!("invalid mxc URI {mxc}: {e}")))
}

/// Whether an error from the authenticated media endpoint means "try the legacy one".
fn should_fall_back(e: &MatrixError) -> bool {
    match e {
        MatrixError::Api {
            status, errcode, ..
        } => errcode == "M_UNRECOGNIZED" || matches!(status, 400 | 404 | 405),
        _ => false,
    }
}

/// Whether the error shows the homeserver lacks the authenticated media endpoint altogether
/// (as opposed to lacking this one file).
fn endpoint_unsupported(e: &MatrixError) -> bool {
    match e {
        MatrixError::Api {
            status, errcode, ..
        } => errcode == "M_UNRECOGNIZED" || *status == 405,
        _ => false,
    }
}

impl MatrixClient {
    /// Uploads media as the bot.
    pub async fn upload(
        &self,
        data: Bytes,
        content_type: &str,
        filename: Option<&str>,
    ) -> Result<OwnedMxcUri, MatrixError> {
        let mut req = create_content::v3::Request::new(data.to_vec());
        req.content_type = Some(content_type.to_owned());
        req.filename = filename.map(str::to_owned);
        let resp = self.send_ruma(req, None).await?;
        Ok(resp.content_uri)
    }

    /// Downloads media: the authenticated endpoint (spec v1.11) first when enabled, then the
    /// legacy one. A homeserver that does not know the authenticated endpoint is remembered, so
    /// later downloads go straight to the legacy one.
    pub async fn download(
        &self,
        mxc: &OwnedMxcUri,
    ) -> Result<(Bytes, Option<String>), MatrixError> {
        let (server, media_id) = mxc_parts(mxc)?;
        if self.authenticated_media.load(Ordering::Relaxed) {
            let req = authenticated_media::get_content::v1::Request::new(
                media_id.to_owned(),
                server.to_owned(),
            );
            match self.send_ruma(req, None).await {
                Ok(resp) => return Ok((Bytes::from(resp.file), resp.content_type)),
                Err(e) if should_fall_back(&e) => {
                    if endpoint_unsupported(&e) {
                        tracing::info!(error = %e, "homeserver lacks authenticated media; using legacy downloads");
                        self.authenticated_media.store(false, Ordering::Relaxed);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let url = self.url(&[
            "_matrix",
            "media",
            "v3",
            "download",
            server.as_str(),
            media_id,
        ])?;
        let resp = self.send(Outgoing::new(Method::GET, url)).await?;
        let content_type = resp
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok((resp.body, content_type))
    }

    /// A public HTTP URL for an `mxc://` URI (what IRC/XMPP users get as a link).
    ///
    /// This is the legacy unauthenticated download URL: homeservers that enforce authenticated
    /// media (Synapse's `enable_authenticated_media`, default on since 1.120) refuse it for media
    /// uploaded after the switch, so such links need a media proxy in front. An unparsable URI
    /// is returned as is. [`MatrixClient::with_public_media_base`] points links at a proxy
    /// instead.
    pub fn public_media_url(&self, mxc: &OwnedMxcUri) -> String {
        let url = mxc_parts(mxc).and_then(|(server, id)| match &self.public_media_base {
            Some(base) => join_segments(base, &[server.as_str(), id]),
            None => self.url(&["_matrix", "media", "v3", "download", server.as_str(), id]),
        });
        match url {
            Ok(url) => url.to_string(),
            Err(_) => mxc.to_string(),
        }
    }

    /// Resolves an alias to a room ID; `None` if the alias does not exist.
    pub async fn resolve_alias(
        &self,
        alias: &OwnedRoomAliasId,
    ) -> Result<Option<OwnedRoomId>, MatrixError> {
        match self
            .send_ruma(get_alias::v3::Request::new(alias.clone()), None)
            .await
        {
            Ok(resp) => Ok(Some(resp.room_id)),
            Err(MatrixError::Api {
                status: 404,
                errcode,
                ..
            }) if errcode == "M_NOT_FOUND" => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, errcode: &str) -> MatrixError {
        MatrixError::Api {
            status,
            errcode: errcode.into(),
            error: String::new(),
        }
    }

    #[test]
    fn fallback_rules() {
        assert!(should_fall_back(&api(404, "M_UNRECOGNIZED")));
        assert!(should_fall_back(&api(400, "M_UNRECOGNIZED")));
        assert!(should_fall_back(&api(404, "M_NOT_FOUND")));
        assert!(should_fall_back(&api(405, "M_UNKNOWN")));
        assert!(!should_fall_back(&api(403, "M_FORBIDDEN")));
        assert!(!should_fall_back(&MatrixError::Transport("x".into())));
        assert!(endpoint_unsupported(&api(404, "M_UNRECOGNIZED")));
        assert!(!endpoint_unsupported(&api(404, "M_NOT_FOUND")));
    }
}
