//! The two halves of a generated model: what needs the heap and what does not. Generated code
//! puts its owning struct, `new`, `with_threads` and `run` in [`with_alloc!`] and, for builds
//! without `alloc`, an uninhabited type of the same name in [`without_alloc!`]; the constants
//! and `run_with_arena` are outside both. The same generated file then compiles against the
//! runtime with and without `alloc`, the runtime's features deciding which half exists (a
//! `#[cfg]` in the generated file would test the user's crate's features instead).

/// Its items, when the runtime has the `alloc` feature; nothing otherwise.
#[cfg(feature = "alloc")]
#[macro_export]
macro_rules! with_alloc {
    ($($item:item)*) => { $($item)* };
}

/// Its items, when the runtime has the `alloc` feature; nothing otherwise.
#[cfg(not(feature = "alloc"))]
#[macro_export]
macro_rules! with_alloc {
    ($($item:item)*) => {};
}

/// Its items, when the runtime lacks the `alloc` feature; nothing otherwise.
#[cfg(feature = "alloc")]
#[macro_export]
macro_rules! without_alloc {
    ($($item:item)*) => {};
}

/// Its items, when the runtime lacks the `alloc` feature; nothing otherwise.
#[cfg(not(feature = "alloc"))]
#[macro_export]
macro_rules! without_alloc {
    ($($item:item)*) => { $($item)* };
}
