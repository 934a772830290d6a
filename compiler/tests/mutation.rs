//! Deterministic mutation test, the always-on guard beside `cargo fuzz` (which needs nightly):
//! 11 000 seeded byte mutations of real models go through import and, when that succeeds, every
//! pass and code generation. A third are raw (bit flips, byte sets, truncations, chunk
//! duplications and removals, splices from other models, varints rewritten in place); two
//! thirds edit one field found by a protobuf walker (an integer set to an edge value, a field
//! removed, duplicated, or given another field's payload such as another value's name) and
//! rewrite the enclosing lengths, so the file still decodes and reaches the importer's checks.
//! Each case must end in `Ok` or `Err`: no panic (counted with `catch_unwind`), no abort, none
//! slower than `SLOW`, no allocation beyond `alloc_meter::bound_for` (crossing it aborts the
//! binary). The counts of mutations and outcomes are printed.

#[path = "support/alloc_meter.rs"]
mod alloc_meter;
mod support;

#[global_allocator]
static ALLOC: alloc_meter::Meter = alloc_meter::Meter;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use ghostc::analysis::memory;
use ghostc::back::{emit, lower, EmitOptions, WeightsMode};
use ghostc::pipeline::{import_bytes, run_passes, PassOptions};
use ghostc::{Error, ImportOptions};
use support::XorShift;

/// Mutations per synthetic seed model (5 models: 11,000 mutations).
const PER_SYNTHETIC: usize = 2_200;
/// Mutations of the 10 MB GhostNet 0.5 fixture, aimed at its graph (not its weights).
const PER_GHOSTNET: usize = 12;
/// A single case slower than this (opt-level 1, a loaded 2-core machine) counts as a hang.
const SLOW: Duration = Duration::from_secs(10);

/// The whole compiler in memory, as the fuzz target runs it; on refusal, the kind of error and
/// its message.
fn compile(bytes: &[u8]) -> Result<(), (&'static str, String)> {
    let mut imported = import_bytes(bytes, &ImportOptions::default()).map_err(stage)?;
    let _ = imported.graph.to_string();
    run_passes(&mut imported.graph, &PassOptions::default(), &mut |_, _| {
        Ok(())
    })
    .map_err(stage)?;
    let plan = memory::plan(&imported.graph);
    let kernels = lower(&imported.graph, &plan).map_err(stage)?;
    let out = emit(
        &imported.graph,
        &plan,
        &kernels,
        &EmitOptions {
            name: "Net".into(),
            weights_file: "net.weights.bin".into(),
            weights_mode: WeightsMode::File,
            header: Vec::new(),
            // Odd lengths also emit the per-layer profiler (names in string literals).
            profile: bytes.len() % 2 == 1,
        },
    )
    .map_err(stage)?;
    assert!(!out.source.contains("unsafe"), "generated code has unsafe");
    Ok(())
}

fn stage(e: Error) -> (&'static str, String) {
    let kind = match e {
        Error::Decode(_) => "err: protobuf decoding",
        Error::Model(_) => "err: invalid model",
        Error::Unsupported(_) => "err: unsupported ops",
        Error::Node { .. } => "err: node",
        Error::ExternalData { .. } => "err: external data",
        Error::Option(_) => "err: option",
        Error::Verify { .. } => "err: verification",
        Error::Emit(_) => "err: code generation",
        Error::Io { .. } | Error::Write { .. } => "err: io",
    };
    (kind, e.to_string())
}

// ---- protobuf-aware positions ---------------------------------------------------------------

fn read_varint(b: &[u8], mut i: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(i)?;
        i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((v, i));
        }
    }
    None
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// One field of a well-formed protobuf message somewhere in the file.
#[derive(Clone, Debug)]
struct Field {
    /// The whole field, key included.
    range: (usize, usize),
    /// Wire type 0: the value's varint; wire type 2: the payload (after its length prefix).
    value: (usize, usize),
    wire_type: u64,
    /// Offsets of the length prefixes of the enclosing fields, outermost first.
    parents: Vec<usize>,
}

/// Walks `b[start..end]` as a protobuf message, recording every field and descending into
/// length-delimited fields whose payload parses as a message. False (and nothing recorded) if
/// the range is not a well-formed message.
fn walk(
    b: &[u8],
    start: usize,
    end: usize,
    parents: &mut Vec<usize>,
    out: &mut Vec<Field>,
) -> bool {
    let mark = out.len();
    let mut i = start;
    while i < end {
        let Some((key, j)) = read_varint(b, i).filter(|&(k, j)| j <= end && k >> 3 != 0) else {
            out.truncate(mark);
            return false;
        };
        let field_start = i;
        i = j;
        let (wire_type, value) = match key & 7 {
            0 => match read_varint(b, i).filter(|&(_, j)| j <= end) {
                Some((_, j)) => (0, (i, j)),
                None => (9, (0, 0)),
            },
            1 if i + 8 <= end => (1, (i, i + 8)),
            5 if i + 4 <= end => (5, (i, i + 4)),
            2 => match read_varint(b, i) {
                Some((len, j)) if len <= end.saturating_sub(j) as u64 => (2, (j, j + len as usize)),
                _ => (9, (0, 0)),
            },
            _ => (9, (0, 0)),
        };
        if wire_type == 9 {
            out.truncate(mark);
            return false;
        }
        out.push(Field {
            range: (field_start, value.1),
            value,
            wire_type,
            parents: parents.clone(),
        });
        if wire_type == 2 && value.1 > value.0 && parents.len() < 16 {
            parents.push(i);
            walk(b, value.0, value.1, parents, out);
            parents.pop();
        }
        i = value.1;
    }
    true
}

fn fields(b: &[u8]) -> Vec<Field> {
    let mut out = Vec::new();
    walk(b, 0, b.len(), &mut Vec::new(), &mut out);
    out
}

/// Replaces `b[at.0..at.1]` by `with` inside `field`'s message and rewrites the length prefixes of
/// every enclosing field (innermost first; each rewrite can change a prefix's own size), so the
/// file stays well-formed protobuf.
fn edit(b: &mut Vec<u8>, parents: &[usize], at: (usize, usize), with: Vec<u8>) {
    let mut delta = with.len() as i64 - (at.1 - at.0) as i64;
    b.splice(at.0..at.1, with);
    for &p in parents.iter().rev() {
        let Some((len, j)) = read_varint(b, p) else {
            return;
        };
        let enc = varint((len as i64 + delta).max(0) as u64);
        delta += enc.len() as i64 - (j - p) as i64;
        b.splice(p..j, enc);
    }
}

// ---- mutations ------------------------------------------------------------------------------

/// Values worth writing into a varint: edges of every integer width, and negatives as ONNX
/// encodes them (two's complement over ten bytes).
const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    16,
    127,
    128,
    255,
    4096,
    65535,
    1 << 20,
    1 << 31,
    (1 << 31) - 1,
    1 << 32,
    1 << 62,
    i64::MAX as u64,
    1 << 63,
    u64::MAX,
    (-2i64) as u64,
    (-3i64) as u64,
    i32::MIN as i64 as u64,
];

struct Mutator<'a> {
    rng: XorShift,
    others: &'a [Vec<u8>],
    /// Mutations land in `[0, limit)` (the graph part of a big model).
    limit: usize,
}

impl Mutator<'_> {
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.rng.next_u64() % n as u64) as usize
        }
    }

    fn pos(&mut self, b: &[u8]) -> usize {
        self.below(b.len().min(self.limit))
    }

    fn interesting(&mut self, old: u64) -> u64 {
        match self.below(3) {
            0 => INTERESTING[self.below(INTERESTING.len())],
            1 => old.wrapping_add([1, u64::MAX, 2, 8][self.below(4)]),
            _ => self.rng.next_u64() >> self.below(64),
        }
    }

    /// Applies one random mutation to `b`; returns its kind. Two in three keep the file
    /// well-formed protobuf (so they reach the importer's checks, not only the decoder's).
    fn mutate(&mut self, b: &mut Vec<u8>) -> &'static str {
        if b.is_empty() {
            b.push(self.rng.next_u64() as u8);
            return "grow";
        }
        if self.below(3) != 0 {
            let limit = self.limit;
            let fs: Vec<Field> = fields(b)
                .into_iter()
                .filter(|f| f.range.1 <= limit)
                .collect();
            if !fs.is_empty() {
                return self.mutate_field(b, &fs);
            }
        }
        match self.below(7) {
            0 => {
                let p = self.pos(b);
                b[p] ^= 1 << self.below(8);
                "bit flip"
            }
            1 => {
                let p = self.pos(b);
                b[p] = [0, 1, 0x7f, 0x80, 0xff, self.rng.next_u64() as u8][self.below(6)];
                "byte set"
            }
            2 => {
                let p = self.pos(b);
                b.truncate(p);
                "truncation"
            }
            3 => {
                let (s, len) = (self.pos(b), 1 + self.below(64));
                let chunk: Vec<u8> = b[s..(s + len).min(b.len())].to_vec();
                let at = self.pos(b);
                b.splice(at..at, chunk);
                "chunk duplication"
            }
            4 => {
                let (s, len) = (self.pos(b), 1 + self.below(64));
                b.drain(s..(s + len).min(b.len()));
                "chunk removal"
            }
            5 => {
                let o = &self.others[self.below(self.others.len())];
                let (s, len) = (self.below(o.len()), 1 + self.below(256));
                let chunk = o[s..(s + len).min(o.len())].to_vec();
                let at = self.pos(b);
                let end = (at + self.below(64)).min(b.len());
                b.splice(at..end, chunk);
                "splice"
            }
            _ => {
                // A varint rewritten in place, lengths left as they are.
                let p = self.pos(b);
                let (old, j) = read_varint(b, p).unwrap_or((0, p + 1));
                let v = self.interesting(old);
                b.splice(p..j.min(b.len()), varint(v));
                "raw varint corruption"
            }
        }
    }

    /// A mutation of one field that keeps the file well-formed (enclosing lengths rewritten).
    fn mutate_field(&mut self, b: &mut Vec<u8>, fs: &[Field]) -> &'static str {
        let f = fs[self.below(fs.len())].clone();
        match (f.wire_type, self.below(4)) {
            (0, _) | (1 | 5, 0) => {
                let v = match f.wire_type {
                    0 => {
                        let (old, _) = read_varint(b, f.value.0).unwrap_or((0, 0));
                        varint(self.interesting(old))
                    }
                    1 => self.interesting(0).to_le_bytes().to_vec(),
                    _ => (self.interesting(0) as u32).to_le_bytes().to_vec(),
                };
                edit(b, &f.parents, f.value, v);
                "field value"
            }
            (_, 1) => {
                edit(b, &f.parents, f.range, Vec::new());
                "field removal"
            }
            (_, 2) => {
                let copy = b[f.range.0..f.range.1].to_vec();
                edit(b, &f.parents, (f.range.1, f.range.1), copy);
                "field duplication"
            }
            (2, _) => {
                // Another length-delimited payload (a name, a tensor, a node...) in its place.
                let len_fields: Vec<&Field> = fs.iter().filter(|g| g.wire_type == 2).collect();
                let g = len_fields[self.below(len_fields.len())];
                let payload = b[g.value.0..g.value.1].to_vec();
                let mut with = varint(payload.len() as u64);
                with.extend(payload);
                let (_, key_end) = read_varint(b, f.range.0).unwrap_or((0, f.range.0));
                edit(b, &f.parents, (key_end, f.value.1), with);
                "field swap"
            }
            _ => {
                edit(b, &f.parents, f.range, Vec::new());
                "field removal"
            }
        }
    }
}

// ---- the test -------------------------------------------------------------------------------

thread_local! {
    static PANIC_MSG: RefCell<String> = const { RefCell::new(String::new()) };
}

#[test]
fn seeded_mutations_never_panic() {
    let root = support::workspace_root();
    let mut seeds: Vec<(String, Vec<u8>, usize, usize)> = Vec::new();
    for case in [
        "ghost_module",
        "ghost_module_odd",
        "stride2",
        "ghost_bottleneck_se",
        "mixed_ops",
    ] {
        let b = std::fs::read(
            root.join("examples/synthetic")
                .join(case)
                .join("model.onnx"),
        )
        .expect("read synthetic model");
        let n = b.len();
        seeds.push((case.to_string(), b, n, PER_SYNTHETIC));
    }
    let big = std::fs::read(support::fixture("ghostnet_050_dynamo")).expect("read fixture");
    // The nodes precede the initializers in an exported file: aim at the first 200 KB.
    seeds.push(("ghostnet_050_dynamo".into(), big, 200_000, PER_GHOSTNET));
    let all: Vec<Vec<u8>> = seeds[..5].iter().map(|s| s.1.clone()).collect();

    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        PANIC_MSG.with(|m| *m.borrow_mut() = format!("{msg} at {at}"));
    }));

    let started = Instant::now();
    // Per outcome: count and the first message met.
    let mut outcomes: BTreeMap<&'static str, (usize, String)> = BTreeMap::new();
    let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut panics: Vec<String> = Vec::new();
    let (mut total, mut slowest, mut peak_max) = (0usize, (Duration::ZERO, String::new()), 0usize);
    let dump = support::temp_dir("mutation_panics");
    for (si, (name, seed, limit, count)) in seeds.iter().enumerate() {
        let mut m = Mutator {
            rng: XorShift::new(0x5eed_0000 + si as u64),
            others: &all,
            limit: *limit,
        };
        for i in 0..*count {
            let mut b = seed.clone();
            let stack = 1 + m.below(3);
            for _ in 0..stack {
                *kinds.entry(m.mutate(&mut b)).or_default() += 1;
            }
            let t = Instant::now();
            let (r, peak) = alloc_meter::bounded(alloc_meter::bound_for(b.len()), || {
                catch_unwind(AssertUnwindSafe(|| compile(&b)))
            });
            let dt = t.elapsed();
            total += 1;
            peak_max = peak_max.max(peak);
            if dt > slowest.0 {
                slowest = (dt, format!("{name} #{i}"));
            }
            let (outcome, msg) = match r {
                Ok(Ok(())) => ("ok: compiled", String::new()),
                Ok(Err(e)) => e,
                Err(_) => {
                    let file = dump.join(format!("{name}-{i}.onnx"));
                    let _ = std::fs::write(&file, &b);
                    panics.push(format!(
                        "{name} mutation #{i}: {} (input saved to {})",
                        PANIC_MSG.with(|m| m.borrow().clone()),
                        file.display()
                    ));
                    ("PANIC", String::new())
                }
            };
            let o = outcomes.entry(outcome).or_insert((0, msg));
            o.0 += 1;
        }
    }
    let _ = std::panic::take_hook();

    // Written straight to stderr so the counts show even when the harness captures output.
    let mut report = format!(
        "mutation test: {total} mutated models in {:.1?} ({} panics); slowest case {:.1?} ({}); \
         largest peak allocation {} KiB\n  mutations applied: {kinds:?}\n  outcomes:\n",
        started.elapsed(),
        panics.len(),
        slowest.0,
        slowest.1,
        peak_max >> 10
    );
    for (k, (n, first)) in &outcomes {
        let first: String = first.chars().take(150).collect();
        report.push_str(&format!("    {n:>6}  {k}  (first: {first})\n"));
    }
    let _ = std::io::stderr().write_all(report.as_bytes());

    assert!(total >= 10_000, "only {total} mutations");
    assert!(
        panics.is_empty(),
        "{} panics:\n{}",
        panics.len(),
        panics.join("\n")
    );
    assert!(slowest.0 < SLOW, "case {} took {:?}", slowest.1, slowest.0);
}
