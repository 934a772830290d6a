//! The committed ONNX protobuf code (`src/front/onnx_proto.rs`) is what `prost-build` makes of
//! the vendored `proto/onnx.proto` today. `GHOSTC_UPDATE_PROTO=1 cargo test -p ghostc --test
//! proto` rewrites it after a change to the schema or to prost.

use std::path::Path;

#[test]
fn proto_code_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("ghostc-proto-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temp dir");
    let fds = protox::compile([root.join("proto/onnx.proto")], [root.join("proto")])
        .expect("onnx.proto compiles");
    prost_build::Config::new()
        .out_dir(&out)
        .compile_fds(fds)
        .expect("prost-build generates code");
    let fresh = std::fs::read_to_string(out.join("onnx.rs")).expect("generated onnx.rs");
    let _ = std::fs::remove_dir_all(&out);
    let committed_path = root.join("src/front/onnx_proto.rs");
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    if fresh != committed {
        if std::env::var_os("GHOSTC_UPDATE_PROTO").is_some() {
            std::fs::write(&committed_path, fresh).expect("write onnx_proto.rs");
        } else {
            panic!(
                "src/front/onnx_proto.rs is stale: run GHOSTC_UPDATE_PROTO=1 cargo test -p ghostc --test proto"
            );
        }
    }
}
