//! Static memory plan: where every value computed at run time lives in one f32 arena.
//!
//! Each op says where its output goes (`Op::storage`): aliases (Reshape, Identity, ...) share
//! their input's storage and cost nothing; ops with an in-place kernel write over their input
//! when nothing reads it later. Each remaining value gets an arena range; ranges of values whose
//! lifetimes overlap never overlap. Placement is greedy by size (largest first, lowest
//! offset that fits), which stays close to the liveness lower bound.

use std::collections::{BTreeMap, HashMap};

use petgraph::stable_graph::NodeIndex;

use crate::ir::text::numbering;
use crate::ir::{Graph, ValueRef};
use crate::ops::{Op, OutputStorage};

/// Arena offsets are multiples of this many f32s (64 bytes, one cache line / AVX-512 vector).
pub const ALIGN: usize = 16;

/// Where a value's data is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// A constant, emitted into the weights (read-only).
    Const(NodeIndex),
    /// `len` f32s at `offset` in the arena.
    Arena { offset: usize, len: usize },
}

/// The memory plan: storage of every value, arena size and the liveness lower bound.
#[derive(Clone, Debug, Default)]
pub struct MemoryPlan {
    pub storage: HashMap<ValueRef, Storage>,
    /// Arena length in f32s.
    pub arena_len: usize,
    /// Largest total (f32s) of values live at the same time: no plan can use less.
    pub lower_bound: usize,
}

/// True if node `n` writes its output over its first input's storage (an
/// [`OutputStorage::InPlace`] op the plan gave its input's storage).
pub fn runs_in_place(plan: &MemoryPlan, g: &Graph, n: NodeIndex) -> bool {
    let out = plan.storage.get(&ValueRef::new(n, 0));
    g.node(n).op.storage() == OutputStorage::InPlace
        && out.is_some()
        && g.inputs(n).first().map(|i| plan.storage.get(i)) == Some(out)
}

/// Plans `g` for its schedule: nodes in `ir::text::numbering` order, the order the back end
/// emits them in.
pub fn plan(g: &Graph) -> MemoryPlan {
    let (order, _) = numbering(g);
    let pos: HashMap<NodeIndex, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    // Position of each value's last read (graph outputs: past the end).
    let end = order.len();
    let mut last_read: HashMap<ValueRef, usize> = HashMap::new();
    for &n in &order {
        for i in g.inputs(n) {
            let l = last_read.entry(i).or_insert(pos[&n]);
            *l = (*l).max(pos[&n]);
        }
    }
    for (_, v) in &g.outputs {
        last_read.insert(*v, end);
    }
    // Root value each value's storage belongs to, and the last read of each root's storage.
    let mut root: HashMap<ValueRef, ValueRef> = HashMap::new();
    let mut root_last: HashMap<ValueRef, usize> = HashMap::new();
    for &n in &order {
        let node = g.node(n);
        for p in 0..node.outputs.len() {
            let v = ValueRef::new(n, p);
            let r = match g.inputs(n).first() {
                Some(&i) if node.op.storage().is_alias() => root.get(&i).copied().unwrap_or(i),
                // In place: the input's storage is read for the last time here, and holds
                // exactly the output.
                Some(&i)
                    if p == 0
                        && node.op.storage() == OutputStorage::InPlace
                        && root.get(&i).is_some_and(|r| {
                            !matches!(g.node(r.node).op, Op::Const(_))
                                && root_last.get(r) == Some(&pos[&n])
                                && g.ty(*r).len() == g.ty(v).len()
                        }) =>
                {
                    root[&i]
                }
                _ => v,
            };
            root.insert(v, r);
            let l = root_last.entry(r).or_insert(0);
            *l = (*l).max(last_read.get(&v).copied().unwrap_or(pos[&n]));
        }
    }
    // Lifetime of each arena root: [definition, last use] in schedule positions.
    let mut life: BTreeMap<ValueRef, (usize, usize)> = BTreeMap::new();
    for &n in &order {
        if matches!(g.node(n).op, Op::Const(_)) {
            continue;
        }
        for p in 0..g.node(n).outputs.len() {
            let v = ValueRef::new(n, p);
            if root[&v] == v {
                life.insert(v, (pos[&n], pos[&n]));
            }
        }
    }
    for &n in &order {
        for i in g.inputs(n) {
            if let Some(l) = life.get_mut(&root[&i]) {
                l.1 = l.1.max(pos[&n]);
            }
        }
    }
    for (_, v) in &g.outputs {
        if let Some(l) = life.get_mut(&root[v]) {
            l.1 = end;
        }
    }

    let size = |v: &ValueRef| g.ty(*v).len().div_ceil(ALIGN) * ALIGN;
    let mut by_size: Vec<ValueRef> = life.keys().copied().collect();
    by_size.sort_by_key(|v| (std::cmp::Reverse(size(v)), life[v].0, *v));
    let mut placed: Vec<(usize, usize, (usize, usize))> = Vec::new(); // (offset, size, life)
    let mut offsets: HashMap<ValueRef, usize> = HashMap::new();
    for v in by_size {
        let (s, l) = (size(&v), life[&v]);
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|(_, _, pl)| pl.0 <= l.1 && l.0 <= pl.1)
            .map(|&(o, sz, _)| (o, o + sz))
            .collect();
        busy.sort_unstable();
        let mut off = 0;
        for (b0, b1) in busy {
            if off + s <= b0 {
                break;
            }
            off = off.max(b1);
        }
        placed.push((off, s, l));
        offsets.insert(v, off);
    }

    let mut mp = MemoryPlan::default();
    for (&v, &r) in &root {
        let st = match g.node(r.node).op {
            Op::Const(_) => Storage::Const(r.node),
            _ => Storage::Arena {
                offset: offsets[&r],
                len: g.ty(r).len(),
            },
        };
        mp.storage.insert(v, st);
    }
    mp.arena_len = placed.iter().map(|&(o, s, _)| o + s).max().unwrap_or(0);
    mp.lower_bound = (0..=end)
        .map(|t| {
            life.iter()
                .filter(|(_, l)| l.0 <= t && t <= l.1)
                .map(|(v, _)| size(v))
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0);
    mp
}

impl MemoryPlan {
    /// Where node `n`'s first output lives, for IR annotations: `@arena[a..b]`, `@input0`, or
    /// `@const` (None for constants themselves and nodes the plan does not know).
    pub fn describe(&self, n: NodeIndex) -> Option<String> {
        match self.storage.get(&ValueRef::new(n, 0))? {
            Storage::Arena { offset, len } => Some(format!("@arena[{offset}..{}]", offset + len)),
            Storage::Const(c) if *c != n => Some("@const".into()),
            Storage::Const(_) => None,
        }
    }
}
