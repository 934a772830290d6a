//! Fuses an expansion conv into the depthwise conv that reads it: `e = conv1x1{act}(x)`,
//! `y = depthwise_conv{act}(e)` becomes one `expand_depthwise` that computes `e` a piece at a
//! time into a scratch and runs the depthwise conv on each piece, so the expanded tensor (an
//! inverted-residual block's largest: 3.5 MB at EfficientNet's 96x96 stage, 2.4 MB at
//! MobileNetV2's 112x112 one) never goes through L3 or DRAM whole. NCHW, a piece is a block of
//! expanded channels; NHWC, the expanded rows a strip of output rows reads.
//!
//! After `plan_layout`, where it left `e` and `y` both NCHW (and `x` too) or both NHWC (`x`
//! either: the NHWC expansion reads both). It does not fuse when `e` is read by anything else
//! (or is a graph output), when the first conv is not pointwise (1x1, stride 1, unpadded, one
//! group), when the second is not depthwise with multiplier 1 over all of `e`'s channels, when
//! either takes a residual, when a weight or bias is not a constant, or when the expanded tensor
//! fits in one block ([`ExpandDepthwise::block`]; NHWC: in [`EXPAND_BLOCK_BYTES`]): it stays in
//! L2 as it is, and fusing would only add the scratch.

use crate::ir::layout::Layout;
use crate::ir::{Graph, ValueRef};
use crate::ops::fused::{ExpandDepthwise, EXPAND_BLOCK_BYTES};
use crate::ops::Op;
use crate::passes::util::conv_bias;
use crate::target::Target;

pub fn fuse_expand_depthwise(g: &mut Graph, _: &Target) -> Result<bool, String> {
    let mut changed = false;
    let order = g.topo_order().map_err(|_| "cycle")?;
    for d in order {
        if !g.g.contains_node(d) {
            continue;
        }
        let Op::Conv(dc) = &g.node(d).op else {
            continue;
        };
        let dins = g.inputs(d);
        let e = dins[0];
        let Op::Conv(ec) = &g.node(e.node).op else {
            continue;
        };
        let (dc, ec) = (dc.clone(), ec.clone());
        let eins = g.inputs(e.node);
        let c = g.ty(e).shape[1];
        let plane: usize = g.ty(e).shape[2..].iter().product();
        let out = ValueRef::new(d, 0);
        let depthwise = dc.group == c
            && g.ty(dins[1]).shape.first() == Some(&c)
            && g.ty(dins[1]).shape.get(1) == Some(&1);
        let constant = eins[1..]
            .iter()
            .chain(&dins[1..])
            .all(|&v| g.constant(v).is_some());
        // NCHW throughout, or NHWC out of both convs (the expansion reads either layout).
        let nchw = [eins[0], e, out]
            .iter()
            .all(|&v| g.layout(v) == Layout::Nchw);
        let nhwc = [e, out].iter().all(|&v| g.layout(v) == Layout::Nhwc);
        // Fusing pays only when the expanded tensor would not stay in L2 whole.
        let fits = if nchw {
            ExpandDepthwise::block(c, plane) >= c
        } else {
            4 * c * plane <= EXPAND_BLOCK_BYTES
        };
        if !ec.is_pointwise()
            || ec.residual
            || dc.residual
            || !depthwise
            || !constant
            || !(nchw || nhwc)
            || fits
            || g.is_output(e)
            || g.single_user(e).map(|(u, _)| u) != Some(d)
        {
            continue;
        }
        let (b1, b2) = (conv_bias(g, e.node), conv_bias(g, d));
        let name = g.node(d).name.clone();
        let f = g.add_op(
            format!("{name}.expand_depthwise"),
            Op::ExpandDepthwise(ExpandDepthwise {
                expand: ec,
                depthwise: dc,
            }),
            &[eins[0], eins[1], b1, dins[1], b2],
        )?;
        if nhwc {
            // The fused node's output takes the pair's layout; the pair's go with them.
            g.layouts.insert(ValueRef::new(f, 0), Layout::Nhwc);
            g.layouts.remove(&out);
            g.layouts.remove(&e);
        }
        g.replace_uses(out, ValueRef::new(f, 0));
        g.remove_dead();
        changed = true;
    }
    Ok(changed)
}
