//! GStreamer plugin `mirage`: speech audio in, a synchronized talking-presenter video out.

use gst::glib;

mod miragegen;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    miragegen::register(plugin)
}

gst::plugin_define!(
    mirage,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("CARGO_PKG_NAME")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY")
);
