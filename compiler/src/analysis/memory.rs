//! Static memory plan: where every value computed at run time lives in one f32 arena.
//!
//! Each op says where its output goes (`Op::storage`): aliases (Reshape, Identity, ...) share
//! their input's storage and cost nothing; ops with an in-place kernel write over their input
//! when nothing reads it later. Each remaining value gets an arena range; ranges of values whose
//! lifetimes overlap never overlap. Placement is greedy (lowest offset that fits) in three
//! orders, largest first, earliest first and longest-lived first, the smallest arena kept;
//! that stays close to the liveness lower bound.

use std::collections::{BTreeMap, HashMap};

use petgraph::stable_graph::NodeIndex;

use crate::ir::text::numbering;
use crate::ir::{Graph, ValueRef};
use crate::ops::{Op, OutputStorage};

/// Arena offsets are multiples of this many f32s (64 bytes, one cache line / AVX-512 vector).
pub const ALIGN: usize = 16;

/// The port under which [`MemoryPlan::storage`] holds node `n`'s scratch
/// (`ValueRef::new(n, SCRATCH_PORT)`), for the ops whose kernel needs some.
pub const SCRATCH_PORT: usize = usize::MAX;

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

    // Scratch of the ops that need some (`Op::scratch_len`): a range of its own, live only while
    // the op runs, under the key `ValueRef::new(n, SCRATCH_PORT)`.
    let scratch_len = |n: NodeIndex| {
        let ins: Vec<_> = g.inputs(n).into_iter().map(|i| g.ty(i)).collect();
        g.node(n)
            .op
            .scratch_len(&ins, g.layout(ValueRef::new(n, 0)))
    };
    for &n in &order {
        if scratch_len(n) > 0 {
            life.insert(ValueRef::new(n, SCRATCH_PORT), (pos[&n], pos[&n]));
        }
    }
    let len = |v: &ValueRef| {
        if v.port == SCRATCH_PORT {
            scratch_len(v.node)
        } else {
            g.ty(*v).len()
        }
    };
    let size = |v: &ValueRef| len(v).div_ceil(ALIGN) * ALIGN;
    // Greedy placement in a few orders (largest first; then earliest first; then longest-lived
    // first), keeping the smallest arena (the first on a tie): values of mixed sizes, such as a
    // block scratch next to the planes around it, can fragment one order and not another.
    let mut orders: Vec<Vec<ValueRef>> = Vec::new();
    let mut by_size: Vec<ValueRef> = life.keys().copied().collect();
    by_size.sort_by_key(|v| (std::cmp::Reverse(size(v)), life[v].0, *v));
    orders.push(by_size);
    let mut by_start: Vec<ValueRef> = life.keys().copied().collect();
    by_start.sort_by_key(|v| (life[v].0, std::cmp::Reverse(size(v)), *v));
    orders.push(by_start);
    let mut by_span: Vec<ValueRef> = life.keys().copied().collect();
    by_span.sort_by_key(|v| {
        (
            std::cmp::Reverse(life[v].1 - life[v].0),
            std::cmp::Reverse(size(v)),
            *v,
        )
    });
    orders.push(by_span);
    let place = |order: &[ValueRef]| {
        let mut placed: Vec<(usize, usize, (usize, usize))> = Vec::new(); // (offset, size, life)
        let mut offsets: HashMap<ValueRef, usize> = HashMap::new();
        for &v in order {
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
        let len = placed.iter().map(|&(o, s, _)| o + s).max().unwrap_or(0);
        (len, offsets)
    };
    let mut best: Option<(usize, HashMap<ValueRef, usize>)> = None;
    for order in &orders {
        let (len, offsets) = place(order);
        if best.as_ref().is_none_or(|(b, _)| len < *b) {
            best = Some((len, offsets));
        }
    }
    let (arena_len, offsets) = best.unwrap_or_default();

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
    for (&v, _) in life.iter().filter(|(v, _)| v.port == SCRATCH_PORT) {
        mp.storage.insert(
            v,
            Storage::Arena {
                offset: offsets[&v],
                len: len(&v),
            },
        );
    }
    mp.arena_len = arena_len;
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
    /// The arena range (in f32s) of node `n`'s scratch, if its op needs some.
    pub fn scratch(&self, n: NodeIndex) -> Option<std::ops::Range<usize>> {
        match self.storage.get(&ValueRef::new(n, SCRATCH_PORT))? {
            Storage::Arena { offset, len } => Some(*offset..offset + len),
            Storage::Const(_) => None,
        }
    }

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
