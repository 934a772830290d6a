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
    #[should_panic(expected = "overlaps")]
    fn overlap_is_a_bug() {
        let mut a = [0.0f32; 10];
        let _ = io(&mut a, [(2, 4)], (3, 4));
    }
}
