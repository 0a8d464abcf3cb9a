//! vcard-temp (XEP-0054) photos and their XEP-0153 presence hashes: what a user's avatar is,
//! decoded and checked, so bad input is an error value and never reaches Matrix.

use base64::Engine;
use bytes::Bytes;
use sha1::{Digest, Sha1};
use tokio_xmpp::minidom::Element;

use crate::xml;

/// vcard-temp (XEP-0054).
pub const NS_VCARD: &str = "vcard-temp";
/// XEP-0153 vCard-based avatars: the photo hash in presences.
pub const NS_VCARD_UPDATE: &str = "vcard-temp:x:update";
/// Largest photo taken (decoded bytes); larger ones are ignored.
pub const MAX_PHOTO: usize = 1024 * 1024;

/// A user's published photo.
#[derive(Debug, PartialEq, Eq)]
pub enum Photo {
    /// No photo (an empty vCard, or one without PHOTO/BINVAL).
    None,
    /// The picture and its MIME type.
    Image { data: Bytes, mime: String },
}

/// Why a vCard's photo cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhotoError {
    #[error("the PHOTO is not valid base64")]
    BadBase64,
    #[error("the PHOTO is larger than {MAX_PHOTO} bytes")]
    TooLarge,
    #[error("the PHOTO is an external link (EXTVAL), which is not fetched")]
    External,
    #[error("the PHOTO is not an image")]
    NotAnImage,
}

/// The payload of a vCard request.
pub fn request() -> Element {
    xml::build("vCard", NS_VCARD, &[])
}

/// The photo in a vCard result's payload (`None` payload: the server has no vCard).
pub fn photo(vcard: Option<&Element>) -> Result<Photo, PhotoError> {
    let Some(photo) = vcard
        .filter(|v| v.is("vCard", NS_VCARD))
        .and_then(|v| xml::child(v, "PHOTO", NS_VCARD))
    else {
        return Ok(Photo::None);
    };
    let Some(binval) = xml::child(photo, "BINVAL", NS_VCARD) else {
        return match xml::child(photo, "EXTVAL", NS_VCARD) {
            Some(_) => Err(PhotoError::External),
            None => Ok(Photo::None),
        };
    };
    let text: String = binval
        .text()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if text.is_empty() {
        return Ok(Photo::None);
    }
    // Checked before decoding: base64 is 4 characters per 3 bytes.
    if text.len() / 4 * 3 > MAX_PHOTO + 3 {
        return Err(PhotoError::TooLarge);
    }
    let data = base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|_| PhotoError::BadBase64)?;
    if data.len() > MAX_PHOTO {
        return Err(PhotoError::TooLarge);
    }
    let declared = xml::child(photo, "TYPE", NS_VCARD)
        .map(|t| t.text().trim().to_ascii_lowercase())
        .filter(|t| t.starts_with("image/"));
    let mime = declared
        .or_else(|| sniff(&data).map(str::to_owned))
        .ok_or(PhotoError::NotAnImage)?;
    Ok(Photo::Image {
        data: Bytes::from(data),
        mime,
    })
}

/// The image type of common formats by their magic bytes.
fn sniff(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if data.starts_with(b"GIF8") {
        Some("image/gif")
    } else if data.len() > 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// The XEP-0153 photo hash a presence advertises: `Some("")` for "no photo", `None` when the
/// presence says nothing about it (no element, or the client is not ready to tell).
pub fn advertised_hash(payloads: &[Element]) -> Option<String> {
    let x = payloads.iter().find(|p| p.is("x", NS_VCARD_UPDATE))?;
    let photo = xml::child(x, "photo", NS_VCARD_UPDATE)?;
    Some(photo.text().trim().to_ascii_lowercase())
}

/// The XEP-0153 hash of a photo: hex SHA-1 of its bytes.
pub fn hash(data: &[u8]) -> String {
    Sha1::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A file name for an avatar of type `mime`.
pub fn filename(mime: &str) -> String {
    let ext = match mime {
        "image/jpeg" => "jpg",
        "image/svg+xml" => "svg",
        other => other.strip_prefix("image/").unwrap_or("img"),
    };
    format!("avatar.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    fn vcard(inner: &str) -> Element {
        format!("<vCard xmlns='vcard-temp'>{inner}</vCard>")
            .parse()
            .unwrap()
    }

    fn b64(data: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    #[test]
    fn a_photo_is_decoded_with_its_type() {
        // Line breaks inside BINVAL are common (76-column base64).
        let text = b64(PNG);
        let (a, b) = text.split_at(8);
        let v = vcard(&format!(
            "<FN>Alice</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>{a}\n {b}</BINVAL></PHOTO>"
        ));
        assert_eq!(
            photo(Some(&v)),
            Ok(Photo::Image {
                data: Bytes::from_static(PNG),
                mime: "image/png".into()
            })
        );
        // Without TYPE the bytes tell.
        let v = vcard(&format!("<PHOTO><BINVAL>{}</BINVAL></PHOTO>", b64(PNG)));
        assert!(matches!(photo(Some(&v)), Ok(Photo::Image { mime, .. }) if mime == "image/png"));
    }

    #[test]
    fn no_photo_in_many_shapes() {
        assert_eq!(photo(None), Ok(Photo::None));
        assert_eq!(photo(Some(&vcard(""))), Ok(Photo::None));
        assert_eq!(photo(Some(&vcard("<FN>x</FN>"))), Ok(Photo::None));
        assert_eq!(photo(Some(&vcard("<PHOTO/>"))), Ok(Photo::None));
        assert_eq!(
            photo(Some(&vcard("<PHOTO><BINVAL>  </BINVAL></PHOTO>"))),
            Ok(Photo::None)
        );
        // Some other element is not a vCard.
        let other: Element = "<query xmlns='urn:x'/>".parse().unwrap();
        assert_eq!(photo(Some(&other)), Ok(Photo::None));
    }

    #[test]
    fn bad_photos_are_errors() {
        let v = vcard("<PHOTO><TYPE>image/png</TYPE><BINVAL>not*base64!</BINVAL></PHOTO>");
        assert_eq!(photo(Some(&v)), Err(PhotoError::BadBase64));
        let v = vcard("<PHOTO><BINVAL>QUJD=</BINVAL></PHOTO>");
        assert_eq!(photo(Some(&v)), Err(PhotoError::BadBase64));
        let huge = b64(&vec![0u8; MAX_PHOTO + 10]);
        let v = vcard(&format!(
            "<PHOTO><TYPE>image/png</TYPE><BINVAL>{huge}</BINVAL></PHOTO>"
        ));
        assert_eq!(photo(Some(&v)), Err(PhotoError::TooLarge));
        let v = vcard("<PHOTO><EXTVAL>https://example.com/a.png</EXTVAL></PHOTO>");
        assert_eq!(photo(Some(&v)), Err(PhotoError::External));
        // Neither a declared image type nor image bytes.
        let v = vcard(&format!(
            "<PHOTO><TYPE>text/html</TYPE><BINVAL>{}</BINVAL></PHOTO>",
            b64(b"<html>")
        ));
        assert_eq!(photo(Some(&v)), Err(PhotoError::NotAnImage));
    }

    #[test]
    fn presence_hashes() {
        let x = |inner: &str| -> Vec<Element> {
            vec![
                format!("<x xmlns='vcard-temp:x:update'>{inner}</x>")
                    .parse()
                    .unwrap(),
            ]
        };
        assert_eq!(
            advertised_hash(&x("<photo>ABC123</photo>")),
            Some("abc123".into())
        );
        assert_eq!(advertised_hash(&x("<photo/>")), Some(String::new()));
        assert_eq!(advertised_hash(&x("")), None);
        assert_eq!(advertised_hash(&[]), None);
        assert_eq!(hash(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(filename("image/jpeg"), "avatar.jpg");
        assert_eq!(filename("image/png"), "avatar.png");
    }
}
