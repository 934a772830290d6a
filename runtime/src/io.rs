//! Borrowing a kernel's operands out of one arena: disjoint input ranges read-only, the output
//! range mutable, without `unsafe` in generated code.

/// Splits `arena` into the `inputs` ranges (offset, len) for reading and the `output` range for
/// writing. The compiler's memory plan guarantees every input range lies wholly before or after
/// the output range; a range that overlaps it is a planning bug and panics.
pub fn io<const N: usize>(
    arena: &mut [f32],
    inputs: [(usize, usize); N],
    output: (usize, usize),
) -> ([&[f32]; N], &mut [f32]) {
    let (before, rest) = arena.split_at_mut(output.0);
    let (out, after) = rest.split_at_mut(output.1);
    let (before, after): (&[f32], &[f32]) = (before, after);
    let end = output.0 + output.1;
    let ins = core::array::from_fn(|i| {
        let (o, l) = inputs[i];
        if o + l <= output.0 {
            &before[o..o + l]
        } else if o >= end {
            &after[o - end..o - end + l]
        } else {
            panic!(
                "arena range {o}+{l} overlaps the output range {}+{}",
                output.0, output.1
            )
        }
    });
    (ins, out)
}

/// [`io`] for a kernel that also needs `scratch` (offset, len) to write while it runs: the output
/// and the scratch mutable, the inputs read-only. The memory plan keeps the three apart; any
/// overlap is a planning bug and panics.
pub fn io_scratch<const N: usize>(
    arena: &mut [f32],
    inputs: [(usize, usize); N],
    output: (usize, usize),
    scratch: (usize, usize),
) -> ([&[f32]; N], &mut [f32], &mut [f32]) {
    let (out_end, scr_end) = (output.0 + output.1, scratch.0 + scratch.1);
    assert!(
        out_end <= scratch.0 || scr_end <= output.0,
        "arena scratch {}+{} overlaps the output range {}+{}",
        scratch.0,
        scratch.1,
        output.0,
        output.1
    );
    // Two mutable pieces: split at the end of the first, then `io` on the rest for the second.
    let ((first, first_len), second) = if output.0 < scratch.0 {
        (output, scratch)
    } else {
        (scratch, output)
    };
    let (head, tail) = arena.split_at_mut(first + first_len);
    let (head, first_out) = head.split_at_mut(first);
    let (head, tail): (&[f32], &mut [f32]) = (head, tail);
    let (rest_before, rest) = tail.split_at_mut(second.0 - (first + first_len));
    let (second_out, after) = rest.split_at_mut(second.1);
    let (rest_before, after): (&[f32], &[f32]) = (rest_before, after);
    let (lo, hi) = (first + first_len, second.0 + second.1);
    let ins = core::array::from_fn(|i| {
        let (o, l) = inputs[i];
        if o + l <= first {
            &head[o..o + l]
        } else if o >= lo && o + l <= second.0 {
            &rest_before[o - lo..o - lo + l]
        } else if o >= hi {
            &after[o - hi..o - hi + l]
        } else {
            panic!("arena range {o}+{l} overlaps the output or the scratch")
        }
    });
    if output.0 < scratch.0 {
        (ins, first_out, second_out)
    } else {
        (ins, second_out, first_out)
    }
}

#[cfg(test)]
mod tests {
    use super::io;

    #[test]
    fn splits_disjoint_ranges() {
        let mut a: [f32; 10] = core::array::from_fn(|i| i as f32);
        let ([x, y], out) = io(&mut a, [(0, 2), (8, 2)], (3, 4));
        assert_eq!(x, &[0.0, 1.0]);
        assert_eq!(y, &[8.0, 9.0]);
        out.fill(-1.0);
        assert_eq!(a[3..7], [-1.0; 4]);
        let ([], out) = io(&mut a, [], (0, 10));
        assert_eq!(out.len(), 10);
    }

    #[test]
    fn splits_output_and_scratch_either_way_round() {
        use super::io_scratch;
        let mut a: [f32; 12] = core::array::from_fn(|i| i as f32);
        let ([x, y, z], out, scr) = io_scratch(&mut a, [(0, 2), (5, 1), (10, 2)], (2, 3), (7, 3));
        assert_eq!((x, y, z), (&[0.0, 1.0][..], &[5.0][..], &[10.0, 11.0][..]));
        assert_eq!((out.len(), scr.len()), (3, 3));
        out.fill(-1.0);
        scr.fill(-2.0);
        assert_eq!(a[2..5], [-1.0; 3]);
        assert_eq!(a[7..10], [-2.0; 3]);
        let ([x], out, scr) = io_scratch(&mut a, [(4, 2)], (8, 4), (0, 3));
        assert_eq!(x, &[-1.0, 5.0]);
        assert_eq!((out[0], scr[2]), (-2.0, -1.0));
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn input_over_the_scratch_is_a_bug() {
        let mut a = [0.0f32; 12];
        let _ = super::io_scratch(&mut a, [(6, 2)], (0, 3), (7, 3));
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn overlap_is_a_bug() {
        let mut a = [0.0f32; 10];
        let _ = io(&mut a, [(2, 4)], (3, 4));
    }
}
