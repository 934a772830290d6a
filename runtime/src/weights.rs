//! Access to model weights embedded in the binary as little-endian bytes.

#[cfg(target_endian = "big")]
compile_error!(
    "ghostc-runtime: weight files are little-endian f32; big-endian targets are not supported"
);

/// 64-byte aligned wrapper for embedded weight bytes. Generated code writes
/// `static W: &Aligned<[u8; N]> = &Aligned(*include_bytes!("m.weights.bin"));`
/// and views the bytes with [`f32_weights`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(64))]
pub struct Aligned<T: ?Sized>(pub T);

/// Views little-endian `f32` weight bytes as `f32`s (`bytes.len() / 4` values).
///
/// # Panics
/// If `bytes` is not 4-byte aligned or its length is not a multiple of 4.
/// Neither can happen for the bytes of an [`Aligned`] array of `4 * k` bytes.
#[allow(unsafe_code)]
pub fn f32_weights(bytes: &'static [u8]) -> &'static [f32] {
    if bytes.is_empty() {
        // An empty slice's pointer is only 1-aligned.
        return &[];
    }
    let ptr = bytes.as_ptr().cast::<f32>();
    assert!(
        ptr.is_aligned(),
        "f32_weights: weight bytes at {ptr:p} are not 4-byte aligned (wrap them in Aligned)"
    );
    assert!(
        bytes.len().is_multiple_of(4),
        "f32_weights: weight byte length {} is not a multiple of 4",
        bytes.len()
    );
    // SAFETY: `ptr` is non-null, 4-byte aligned (checked) and valid for reads of
    // `bytes.len()` bytes for 'static, which is exactly `bytes.len() / 4` f32s
    // (length checked). Every bit pattern is a valid f32, the bytes are
    // immutable, and the target is little-endian (compile_error above), so the
    // values are the little-endian f32s stored in the file.
    unsafe { core::slice::from_raw_parts(ptr, bytes.len() / 4) }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ONE_AND_A_HALF: &Aligned<[u8; 8]> = &Aligned(concat_le(1.5, -2.25));

    const fn concat_le(a: f32, b: f32) -> [u8; 8] {
        let a = a.to_le_bytes();
        let b = b.to_le_bytes();
        [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
    }

    #[test]
    fn aligned_is_64_byte_aligned() {
        assert_eq!(core::mem::align_of::<Aligned<[u8; 8]>>(), 64);
        assert_eq!(ONE_AND_A_HALF.0.as_ptr() as usize % 64, 0);
    }

    #[test]
    fn round_trips_le_bytes() {
        assert_eq!(f32_weights(&ONE_AND_A_HALF.0), &[1.5, -2.25]);
        assert_eq!(f32_weights(&ONE_AND_A_HALF.0[..4]), &[1.5]);
        assert_eq!(f32_weights(&[]), &[] as &[f32]);
    }

    #[test]
    #[should_panic(expected = "not 4-byte aligned")]
    fn rejects_misaligned() {
        f32_weights(&ONE_AND_A_HALF.0[1..5]);
    }

    #[test]
    #[should_panic(expected = "not a multiple of 4")]
    fn rejects_bad_length() {
        f32_weights(&ONE_AND_A_HALF.0[..6]);
    }
}
