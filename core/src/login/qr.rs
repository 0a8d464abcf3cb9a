//! Drawing a QR code as a PNG, for logins that show one (WhatsApp).

/// Errors drawing a QR code.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("payload does not fit in a QR code: {0}")]
    Encode(#[from] qrcode::types::QrError),
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// Pixels per QR module and the quiet zone around the code, in modules.
const SCALE: usize = 8;
const QUIET: usize = 4;

/// A black-on-white PNG of `payload`'s QR code.
pub fn render_png(payload: &str) -> Result<Vec<u8>, QrError> {
    let code = qrcode::QrCode::new(payload.as_bytes())?;
    let width = code.width();
    let colors = code.to_colors();
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (mx, my) = (i % width + QUIET, i / width + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_png() {
        let png = render_png("2@abc,def,ghi").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn oversized_payload_is_an_error() {
        assert!(render_png(&"x".repeat(10_000)).is_err());
    }
}
