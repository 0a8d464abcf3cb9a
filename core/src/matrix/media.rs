//! The media repository (upload, download, public links) and alias resolution.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Method, header};
use ruma::{
    MxcUri, OwnedMxcUri, OwnedRoomAliasId, OwnedRoomId,
    api::client::{alias::get_alias, media::create_content},
};

use crate::media_cap::MediaCap;

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

    /// Uploads a file to be posted in `room`: encrypted when the room is (see
    /// [`super::RoomEncryption::upload`]), as it is otherwise.
    pub async fn upload_for_room(
        &self,
        room: &ruma::RoomId,
        data: Bytes,
        content_type: &str,
        filename: Option<&str>,
    ) -> Result<OwnedMxcUri, MatrixError> {
        if let Some(layer) = self.encryption.get() {
            if let Some(mxc) = layer.upload(room, &data, filename).await? {
                return Ok(mxc);
            }
        }
        self.upload(data, content_type, filename).await
    }

    /// Downloads media whole, refusing files over `max_bytes` (by their Content-Length, and
    /// by counting while reading): what a network re-uploading a Matrix file needs.
    pub async fn download(
        &self,
        mxc: &OwnedMxcUri,
        max_bytes: u64,
    ) -> Result<(Bytes, Option<String>), MatrixError> {
        let download = self.download_stream(mxc).await?;
        let content_type = download.content_type.clone();
        let data = download.collect(MediaCap::new(max_bytes)).await?;
        Ok((data, content_type))
    }

    /// Starts a media download and hands the body back unread, to stream or to collect: the
    /// authenticated endpoint (spec v1.11) first when enabled, then the legacy one. A homeserver
    /// that does not know the authenticated endpoint is remembered, so later downloads go
    /// straight to the legacy one.
    pub async fn download_stream(&self, mxc: &OwnedMxcUri) -> Result<MediaDownload, MatrixError> {
        let (server, media_id) = mxc_parts(mxc)?;
        if self.authenticated_media.load(Ordering::Relaxed) {
            let url = self.url(&[
                "_matrix",
                "client",
                "v1",
                "media",
                "download",
                server.as_str(),
                media_id,
            ])?;
            match self.send_streaming(Outgoing::new(Method::GET, url)).await {
                Ok(resp) => return Ok(MediaDownload::new(resp)),
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
        let resp = self.send_streaming(Outgoing::new(Method::GET, url)).await?;
        Ok(MediaDownload::new(resp))
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

/// A media download whose body has not been read yet.
pub struct MediaDownload {
    /// The Content-Type the homeserver gave.
    pub content_type: Option<String>,
    /// The Content-Length the homeserver announced, if any.
    pub content_length: Option<u64>,
    response: reqwest::Response,
}

impl MediaDownload {
    fn new(response: reqwest::Response) -> Self {
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Self {
            content_type,
            content_length: response.content_length(),
            response,
        }
    }

    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, MatrixError> {
        self.response
            .chunk()
            .await
            .map_err(|e| MatrixError::Transport(format!("media download broke off: {e}")))
    }

    /// The body as a stream of pieces, ending with an error if it goes past `cap` (whatever
    /// length was announced).
    pub fn into_stream(
        self,
        cap: MediaCap,
    ) -> impl futures::Stream<Item = Result<Bytes, MatrixError>> + Send + 'static {
        futures::stream::try_unfold(
            (self, cap.counter()),
            |(mut download, mut counter)| async move {
                match download.chunk().await? {
                    Some(chunk) => {
                        counter.add(chunk.len())?;
                        Ok(Some((chunk, (download, counter))))
                    }
                    None => Ok(None),
                }
            },
        )
    }

    /// The whole body, refused by its Content-Length or cut when it goes past `cap`.
    pub async fn collect(mut self, cap: MediaCap) -> Result<Bytes, MatrixError> {
        cap.check(self.content_length)?;
        let mut counter = cap.counter();
        let mut data = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            counter.add(chunk.len())?;
            data.extend_from_slice(&chunk);
        }
        Ok(data.into())
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
