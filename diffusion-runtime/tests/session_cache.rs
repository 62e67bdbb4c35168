//! The session registry shares one session per (graph, provider config) and frees it when the
//! last user drops it. Alone in its test binary because the registry is process-wide.

mod common;

use common::{fixtures, load_ort};
use diffusion_runtime::provider::{ProviderChoice, ProviderConfig};
use diffusion_runtime::session_cache::{get_or_load, live_sessions};

#[test]
fn sessions_are_shared_and_dropped_with_the_last_user() {
    load_ort();
    let cpu = ProviderConfig {
        choice: ProviderChoice::Cpu,
        ..Default::default()
    };
    let graph = fixtures().join("analytic/ddim_eps.onnx");
    assert_eq!(live_sessions(), 0);
    let (a, ra) = get_or_load(&graph, &cpu).unwrap();
    assert!(!ra.shared);
    // The same file through another path spelling is the same session.
    let (b, rb) =
        get_or_load(&fixtures().join("analytic/../analytic/ddim_eps.onnx"), &cpu).unwrap();
    assert!(rb.shared);
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(live_sessions(), 1);
    // Another provider config is another session.
    let other = ProviderConfig {
        device_id: 1,
        ..cpu.clone()
    };
    let (c, rc) = get_or_load(&graph, &other).unwrap();
    assert!(!rc.shared && !std::sync::Arc::ptr_eq(&a, &c));
    assert_eq!(live_sessions(), 2);
    drop(a);
    assert_eq!(live_sessions(), 2, "b still holds the first session");
    drop((b, c));
    assert_eq!(live_sessions(), 0);

    // An explicitly requested GPU provider that cannot register is an error, not a fallback;
    // auto falls back to CPU and says why the others were skipped.
    for choice in [ProviderChoice::Cuda, ProviderChoice::TensorRt] {
        let cfg = ProviderConfig {
            choice,
            ..cpu.clone()
        };
        match get_or_load(&graph, &cfg) {
            Err(e) => assert!(e.to_string().contains("could not be used"), "{e}"),
            // A machine with a GPU build of ONNX Runtime: the requested provider is the one used.
            Ok((s, r)) => {
                let want = if choice == ProviderChoice::Cuda {
                    "CUDA"
                } else {
                    "TensorRT"
                };
                assert_eq!((r.provider.name(), s.provider.name()), (want, want));
            }
        }
    }
    let auto = ProviderConfig {
        choice: ProviderChoice::Auto,
        ..cpu.clone()
    };
    let (s, r) = get_or_load(&graph, &auto).unwrap();
    if r.provider.name() == "CPU" {
        assert_eq!(
            r.skipped.len(),
            2,
            "TensorRT and CUDA were tried first: {:?}",
            r.skipped
        );
    }
    drop(s);
}
