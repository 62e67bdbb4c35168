use gst::glib;
use gst::prelude::*;

mod existing;
mod frames;
mod generate;
mod imp;
mod work;

/// Where the model runs (`execution-provider` property). Each plugin registers its own enum
/// type: both plugins may be loaded in one process, and a GType name can be registered once.
/// Values are in `ProviderChoice::ALL` order.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstV2aExecutionProvider")]
pub enum ExecutionProvider {
    #[default]
    #[enum_value(name = "Auto: TensorRT, then CUDA, then CPU", nick = "auto")]
    Auto = 0,
    #[enum_value(name = "CPU", nick = "cpu")]
    Cpu = 1,
    #[enum_value(name = "CUDA (error if unavailable)", nick = "cuda")]
    Cuda = 2,
    #[enum_value(name = "TensorRT (error if unavailable)", nick = "tensorrt")]
    TensorRt = 3,
}

glib::wrapper! {
    pub struct V2aGen(ObjectSubclass<imp::V2aGen>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    ExecutionProvider::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "v2agen",
        gst::Rank::NONE,
        V2aGen::static_type(),
    )
}
