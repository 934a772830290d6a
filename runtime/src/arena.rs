//! Heap scratch memory for generated code (the `alloc` feature); `no_std` users without an
//! allocator pass their own `[f32; N]` to `run_with_arena` instead.

use alloc::boxed::Box;
use alloc::vec;

/// Heap-allocated, zero-initialised scratch memory of exactly `N` f32s starting on a 64-byte
/// boundary (the memory plan's offsets are multiples of 64 bytes, so every value then starts
/// on a cache line, which the channels-last kernels' vector loads rely on for speed), allocated
/// once in [`Arena::new`] and never resized.
pub struct Arena<const N: usize> {
    buf: Box<[f32]>,
    /// Index of the first 64-byte-aligned element of `buf`.
    start: usize,
}

/// f32s per 64 bytes.
const LINE: usize = 16;

impl<const N: usize> Arena<N> {
    /// Allocates `N` zeroed `f32`s (on the heap directly, never on the stack).
    pub fn new() -> Self {
        let buf: Box<[f32]> = vec![0.0; N + LINE - 1].into_boxed_slice();
        // An f32 allocation is 4-byte aligned: skipping at most 15 elements reaches a line.
        let misalign = (buf.as_ptr() as usize % 64) / 4;
        let start = (LINE - misalign) % LINE;
        Arena { buf, start }
    }

    /// The whole buffer.
    pub fn as_mut_array(&mut self) -> &mut [f32; N] {
        match (&mut self.buf[self.start..self.start + N]).try_into() {
            Ok(a) => a,
            Err(_) => unreachable!("a slice of N elements converts to [f32; N]"),
        }
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_and_sized() {
        let mut a = Arena::<10>::new();
        assert!(a.as_mut_array().iter().all(|&x| x == 0.0));
        a.as_mut_array()[9] = 1.0;
        assert_eq!(a.as_mut_array()[9], 1.0);
        assert_eq!(Arena::<0>::new().as_mut_array().len(), 0);
        for _ in 0..8 {
            let mut a = Arena::<1000>::new();
            assert_eq!(a.as_mut_array().as_ptr() as usize % 64, 0);
        }
    }
}
