//! Audio sample helpers shared by the elements.

/// Mono f32 from interleaved F32LE or S16LE: channels are averaged.
pub fn to_mono(info: &gst_audio::AudioInfo, bytes: &[u8]) -> Vec<f32> {
    let channels = info.channels().max(1) as usize;
    let samples: Vec<f32> = match info.format() {
        gst_audio::AudioFormat::S16le => bytes
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect(),
        _ => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    };
    if channels == 1 {
        return samples;
    }
    samples
        .chunks_exact(channels)
        .map(|f| f.iter().sum::<f32>() / channels as f32)
        .collect()
}
