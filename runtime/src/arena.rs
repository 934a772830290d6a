//! Heap scratch memory for generated code that does not use static buffers.

use alloc::boxed::Box;
use alloc::vec;

/// Heap-allocated, zero-initialised `f32` scratch memory, allocated once in
/// [`Arena::new`] and never resized.
pub struct Arena {
    buf: Box<[f32]>,
}

impl Arena {
    /// Allocates `len` zeroed `f32`s.
    pub fn new(len: usize) -> Self {
        Arena {
            buf: vec![0.0; len].into_boxed_slice(),
        }
    }

    /// The whole buffer.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.buf
    }

    /// Number of `f32`s in the buffer.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the buffer holds no `f32`s.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_and_sized() {
        let mut a = Arena::new(10);
        assert_eq!(a.len(), 10);
        assert!(!a.is_empty());
        assert!(a.as_mut_slice().iter().all(|&x| x == 0.0));
        a.as_mut_slice()[9] = 1.0;
        assert_eq!(a.as_mut_slice()[9], 1.0);
        assert!(Arena::new(0).is_empty());
    }
}
