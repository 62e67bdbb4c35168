//! GStreamer plugin `v2a`: video in, the same video plus a generated, synchronized soundtrack out.

use gst::glib;

mod v2agen;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    v2agen::register(plugin)
}

gst::plugin_define!(
    v2a,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("CARGO_PKG_NAME")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY")
);
