//! Heap scratch memory for generated code (the `alloc` feature); `no_std` users without an
//! allocator pass their own `[f32; N]` to `run_with_arena` instead.

use alloc::boxed::Box;
use alloc::vec;

/// Heap-allocated, zero-initialised scratch memory of exactly `N` f32s, allocated once in
/// [`Arena::new`] and never resized.
pub struct Arena<const N: usize> {
    buf: Box<[f32; N]>,
}

impl<const N: usize> Arena<N> {
    /// Allocates `N` zeroed `f32`s (on the heap directly, never on the stack).
    pub fn new() -> Self {
        let buf: Box<[f32]> = vec![0.0; N].into_boxed_slice();
        match buf.try_into() {
            Ok(buf) => Arena { buf },
            Err(_) => unreachable!("a boxed slice of N elements converts to [f32; N]"),
        }
    }

    /// The whole buffer.
    pub fn as_mut_array(&mut self) -> &mut [f32; N] {
        &mut self.buf
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
    }
}
