//! Static files, embedded in the binary: nothing to install beside it.

pub struct Asset {
    pub name: &'static str,
    pub mime: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $mime:expr, $path:literal) => {
        Asset {
            name: $name,
            mime: $mime,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

pub static ASSETS: &[Asset] = &[
    asset!("app.css", CSS, "app.css"),
    asset!("recording.js", JS, "recording.js"),
    asset!(
        "asciinema-player.min.js",
        JS,
        "vendor/asciinema-player/asciinema-player.min.js"
    ),
    asset!(
        "asciinema-player.css",
        CSS,
        "vendor/asciinema-player/asciinema-player.css"
    ),
];

pub fn get(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}
