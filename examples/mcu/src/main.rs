//! GhostNet in miniature on a Cortex-M4F with no allocator: the model is compiled by
//! `build.rs`, runs with `run_with_arena` on a `static` arena, and its output is compared with
//! onnxruntime's. Prints over semihosting and exits with a failure status if the output is off
//! (max |diff| above 1e-4 x max(1, max|ref|)). `cargo run --release` runs it under QEMU.

#![no_std]
#![no_main]

use core::cell::RefCell;
use cortex_m::interrupt::{self, Mutex};
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};

include!(concat!(env!("OUT_DIR"), "/tiny_ghost_net.rs"));

/// The model's scratch memory, in `.bss` (zeroed at reset, no flash).
static ARENA: Mutex<RefCell<[f32; TinyGhostNet::ARENA_LEN]>> =
    Mutex::new(RefCell::new([0.0; TinyGhostNet::ARENA_LEN]));

static INPUT: &[u8] = include_bytes!("../../synthetic/tiny_ghostnet/input.bin");
static REFERENCE: &[u8] = include_bytes!("../../synthetic/tiny_ghostnet/output.bin");

/// Little-endian f32s from `bytes` into `out`.
fn read_f32(bytes: &[u8], out: &mut [f32]) {
    for (x, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

/// What the stack region is filled with before the run, to find how deep the run went.
const PAINT: u32 = 0x5AFE_C0DE;

extern "C" {
    /// cortex-m-rt's link.x: the end of the statics, where the free RAM (and the stack's
    /// lowest possible address) begins.
    static __sheap: u32;
    /// cortex-m-rt's link.x: the initial stack pointer, the top of RAM.
    static _stack_start: u32;
}

/// Fills the free RAM below the current stack pointer (less a margin for this function's own
/// frame) with `PAINT`; returns the region's bounds and the stack pointer's depth then.
fn paint_stack() -> (usize, usize, usize) {
    // Only the symbols' addresses are taken, which needs no `unsafe`.
    let (lo, top) = (
        core::ptr::addr_of!(__sheap) as usize,
        core::ptr::addr_of!(_stack_start) as usize,
    );
    let sp = cortex_m::register::msp::read() as usize;
    for a in (lo..sp - 256).step_by(4) {
        // SAFETY: free RAM between the statics and the live stack: nothing else uses it.
        unsafe { core::ptr::write_volatile(a as *mut u32, PAINT) };
    }
    (lo, top, top - sp)
}

/// Bytes of stack used since `paint_stack`: from the top down to the lowest overwritten word.
fn stack_used((lo, top, _): (usize, usize, usize)) -> usize {
    let mut a = lo;
    // SAFETY: reads the words painted above, inside RAM.
    while a < top && unsafe { core::ptr::read_volatile(a as *const u32) } == PAINT {
        a += 4;
    }
    top - a
}

#[entry]
fn main() -> ! {
    let region = paint_stack();
    let mut input = [0f32; TinyGhostNet::INPUT_LEN];
    let mut reference = [0f32; TinyGhostNet::OUTPUT_LEN];
    read_f32(INPUT, &mut input);
    read_f32(REFERENCE, &mut reference);
    let mut output = [0f32; TinyGhostNet::OUTPUT_LEN];
    interrupt::free(|cs| {
        let mut arena = ARENA.borrow(cs).borrow_mut();
        TinyGhostNet::run_with_arena(&mut arena, &input, &mut output);
    });

    let stack = stack_used(region);
    let scale = reference.iter().fold(1f32, |m, r| m.max(r.abs()));
    let diff =
        output.iter().zip(&reference).fold(
            0f32,
            |m, (o, r)| if (o - r).abs() > m { (o - r).abs() } else { m },
        );
    let ok = diff <= 1e-4 * scale;
    hprintln!(
        "tiny_ghostnet on {}: max |diff| {:e} (tolerance {:e}); arena {} bytes, weights {} \
         bytes, stack {} bytes deep at most ({} before the run): {}",
        ghostc_runtime::kernel_isa(),
        diff,
        1e-4 * scale,
        TinyGhostNet::ARENA_BYTES,
        TinyGhostNet::WEIGHTS_BYTES,
        stack,
        region.2,
        if ok { "ok" } else { "MISMATCH" }
    );
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
