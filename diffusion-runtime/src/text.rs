//! Prompts to text embeddings: tokenized in Rust with the package's `tokenizer.json`, encoded
//! by its `text_encoder` graph, pooled when the manifest asks for it, and cached per prompt
//! string (prompts change rarely; windows come often). The cache keeps the most recently
//! encoded [`CACHED_PROMPTS`] prompts, so that an application that sets a new prompt every window
//! for hours holds a bounded amount of memory.

use std::collections::{HashMap, VecDeque};

use ndarray::{ArrayD, IxDyn};

use crate::error::{Error, Result};
use crate::package::{GraphInput, LoadedGraph, LoadedPackage, Role};
use crate::tensor::mean_pool_normalize;

/// Longest prompt encoded, in tokens; longer prompts are cut (MiniLM-class encoders take 256).
const MAX_TOKENS: usize = 256;
/// Prompts whose embeddings are kept.
pub const CACHED_PROMPTS: usize = 32;

pub struct TextEncoder {
    tokenizer: tokenizers::Tokenizer,
    graph: LoadedGraph,
    cache: HashMap<String, ArrayD<f32>>,
    /// Cached prompts, oldest first (evicted first).
    cached_order: VecDeque<String>,
    /// Graph runs so far (cache misses), for tests and statistics.
    pub encodes: u64,
}

fn fail(m: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("text encoder: {m}"))
}

impl TextEncoder {
    pub fn new(package: &LoadedPackage) -> Result<Self> {
        let graph = package
            .graph(Role::TextEncoder)
            .cloned()
            .ok_or_else(|| fail("the package has no text_encoder"))?;
        let path = package
            .package
            .tokenizer
            .as_ref()
            .ok_or_else(|| fail("the package has no tokenizer"))?;
        let tokenizer = tokenizers::Tokenizer::from_file(path).map_err(|e| {
            Error::Package(
                package.package.error(
                    &path
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    "assets.tokenizer",
                    format!("cannot load the tokenizer: {e}"),
                ),
            )
        })?;
        Ok(Self {
            tokenizer,
            graph,
            cache: HashMap::new(),
            cached_order: VecDeque::new(),
            encodes: 0,
        })
    }

    /// The embedding of `prompt` (`[1, dim]` when pooled), from the cache when seen before. The
    /// empty prompt is the unconditional embedding.
    pub fn encode(&mut self, prompt: &str) -> Result<ArrayD<f32>> {
        if let Some(e) = self.cache.get(prompt) {
            return Ok(e.clone());
        }
        let enc = self.tokenizer.encode(prompt, true).map_err(fail)?;
        // At least one position (an empty encoding is padded), at most MAX_TOKENS.
        let n = enc.get_ids().len().clamp(1, MAX_TOKENS);
        let padded = |v: &[u32]| -> Vec<i64> {
            (0..n)
                .map(|k| v.get(k).map_or(0, |&x| i64::from(x)))
                .collect()
        };
        let ids = padded(enc.get_ids());
        let mask = padded(enc.get_attention_mask());
        let types = vec![0i64; n];
        let shape = IxDyn(&[1, n]);
        let ids = ArrayD::from_shape_vec(shape.clone(), ids).map_err(fail)?;
        let mask = ArrayD::from_shape_vec(shape.clone(), mask).map_err(fail)?;
        let types = ArrayD::from_shape_vec(shape, types).map_err(fail)?;
        let mut inputs = vec![
            ("input_ids", GraphInput::I64(ids.view())),
            ("attention_mask", GraphInput::I64(mask.view())),
        ];
        if self.graph.spec.input("token_type_ids").is_some() {
            inputs.push(("token_type_ids", GraphInput::I64(types.view())));
        }
        let hidden = self.graph.run(&inputs, &["embedding"])?.remove(0);
        self.encodes += 1;
        let embedding = if self.graph.spec.mean_pooling {
            let h = hidden
                .into_dimensionality::<ndarray::Ix3>()
                .map_err(|_| fail("pooling \"mean\" needs a [batch, seq, dim] output"))?;
            mean_pool_normalize(h.view(), mask.view()).into_dyn()
        } else {
            hidden
        };
        if self.cached_order.len() >= CACHED_PROMPTS {
            if let Some(oldest) = self.cached_order.pop_front() {
                self.cache.remove(&oldest);
            }
        }
        self.cached_order.push_back(prompt.to_string());
        self.cache.insert(prompt.to_string(), embedding.clone());
        Ok(embedding)
    }
}

impl TextEncoder {
    /// Prompts whose embeddings are cached now (at most [`CACHED_PROMPTS`]).
    pub fn cached(&self) -> usize {
        self.cache.len()
    }
}
