//! Rich output (docs/protocol.md §7.3) at a terminal: PNG and JPEG images inline where the
//! terminal speaks an image protocol (kitty, iTerm2 or sixel, through viuer), every image
//! saved to a file otherwise (SVG always: the console has no rasteriser), and HTML as
//! readable text (tables as tables) with the whole page saved next to the images.
//!
//! Files go to one private directory per console (`<tmp>/krunner-console-XXXXXX`), kept
//! after the console exits so the paths it printed stay valid.

use std::path::PathBuf;

use base64::Engine as _;
use image::GenericImageView as _;

use super::screen::Screen;

/// The widest text rendering of HTML.
const HTML_WIDTH: usize = 160;

/// Where rich output goes.
pub(super) struct Rich {
    dir: Option<PathBuf>,
    saved: usize,
    /// Whether images are shown inline (asked of the terminal at the first image).
    inline: Option<bool>,
}

/// One `media` payload, decoded.
enum Media {
    /// An image the terminal protocols take (PNG or JPEG), with its extension.
    Raster(Vec<u8>, &'static str),
    /// SVG text.
    Svg(String),
    /// Anything else: its type.
    Other(String),
}

impl Rich {
    pub(super) fn new() -> Self {
        Self {
            dir: None,
            saved: 0,
            inline: None,
        }
    }

    /// Shows a `media` message.
    pub(super) fn media(&mut self, screen: &mut Screen, payload: &[u8]) -> std::io::Result<()> {
        match decode(payload) {
            Media::Raster(bytes, ext) => {
                if self.show_inline(screen, &bytes)? {
                    return Ok(());
                }
                let path = self.save(&bytes, ext)?;
                screen.note(&format!("[image saved to {}]", path.display()))
            }
            Media::Svg(text) => {
                let path = self.save(text.as_bytes(), "svg")?;
                screen.note(&format!("[image saved to {}]", path.display()))
            }
            Media::Other(kind) => {
                let path = self.save(payload, "json")?;
                screen.note(&format!("[{kind} saved to {}]", path.display()))
            }
        }
    }

    /// Shows an `html` message as text and saves the whole page.
    pub(super) fn html(&mut self, screen: &mut Screen, payload: &[u8]) -> std::io::Result<()> {
        let path = self.save(payload, "html")?;
        let width = viuer::terminal_size().0.clamp(20, HTML_WIDTH as u16) as usize;
        match html2text::from_read(payload, width) {
            Ok(text) => screen.text(&text)?,
            Err(e) => screen.note(&format!("[the HTML cannot be shown as text: {e}]"))?,
        }
        screen.note(&format!("[html saved to {}]", path.display()))
    }

    /// Prints a raster image with the terminal's image protocol; false when there is none
    /// (or the image cannot be decoded).
    fn show_inline(&mut self, screen: &mut Screen, bytes: &[u8]) -> std::io::Result<bool> {
        let inline = *self
            .inline
            .get_or_insert_with(|| screen.is_terminal() && terminal_shows_images());
        if !inline {
            return Ok(false);
        }
        let Ok(img) = image::load_from_memory(bytes) else {
            return Ok(false);
        };
        screen.end_line()?;
        let (cols, _) = viuer::terminal_size();
        let (w, _) = img.dimensions();
        let config = viuer::Config {
            absolute_offset: false,
            width: Some(u32::from(cols.saturating_sub(1)).min(w.div_ceil(8)).max(1)),
            ..viuer::Config::default()
        };
        Ok(viuer::print(&img, &config).is_ok())
    }

    /// Writes `bytes` to the next file of the output directory.
    fn save(&mut self, bytes: &[u8], ext: &str) -> std::io::Result<PathBuf> {
        let dir = match &self.dir {
            Some(dir) => dir.clone(),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("krunner-console-")
                    .tempdir()?
                    .keep();
                self.dir = Some(dir.clone());
                dir
            }
        };
        self.saved += 1;
        let path = dir.join(format!("output-{}.{ext}", self.saved));
        std::fs::write(&path, bytes)?;
        Ok(path)
    }
}

/// Whether the terminal speaks an image protocol viuer can use (asked once).
fn terminal_shows_images() -> bool {
    viuer::is_iterm_supported()
        || viuer::get_kitty_support() != viuer::KittySupport::None
        || viuer::is_sixel_supported()
}

/// Whether the environment names a terminal with an image protocol, without asking it (for
/// choosing matplotlib's format before the runner starts).
pub(super) fn environment_suggests_images() -> bool {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    var("TERM").contains("kitty")
        || std::env::var_os("KITTY_WINDOW_ID").is_some()
        || ["iTerm.app", "WezTerm", "ghostty"].contains(&var("TERM_PROGRAM").as_str())
        || var("LC_TERMINAL") == "iTerm2"
}

fn decode(payload: &[u8]) -> Media {
    let value: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
    let kind = value["type"].as_str().unwrap_or("media").to_owned();
    let data = value["data"].as_str();
    match (kind.as_str(), data) {
        ("image/svg+xml", Some(svg)) => Media::Svg(svg.to_owned()),
        ("image/png" | "image/jpeg", Some(data)) => {
            let ext = if kind == "image/png" { "png" } else { "jpg" };
            // A data URI, or plain base64.
            let encoded = data.split_once(',').map_or(data, |(_, b)| b);
            match base64::engine::general_purpose::STANDARD.decode(encoded.trim()) {
                Ok(bytes) => Media::Raster(bytes, ext),
                Err(_) => Media::Other(kind),
            }
        }
        _ => Media::Other(kind),
    }
}
