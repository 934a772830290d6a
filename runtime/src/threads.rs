//! Optional threading: a persistent worker pool (feature `std`) and `Par`, the handle generated
//! code passes to kernels. Without `std`, `Threads` is always single-threaded and compiles to
//! nothing, so generated code is the same either way.

use core::marker::PhantomData;
use core::ops::Range;

pub(crate) use split::{SplitRead, SplitWrite};

/// Parts per thread when a kernel splits its work: a little more than one, so uneven parts
/// balance out.
pub(crate) const PARTS_PER_THREAD: usize = 2;

/// Below this many multiply-adds (or elements) a kernel runs inline, not on the pool.
pub(crate) const MIN_PARALLEL_WORK: usize = 1 << 16;

/// The threads a model owns: none (single-threaded, the default and the `no_std` case) or a
/// persistent pool.
#[derive(Default)]
pub struct Threads {
    #[cfg(feature = "std")]
    pool: Option<imp::ThreadPool>,
}

impl Threads {
    /// Single-threaded.
    pub const fn single() -> Self {
        Threads {
            #[cfg(feature = "std")]
            pool: None,
        }
    }

    /// `n` threads in all (the caller's plus `n - 1` workers, started once). Without the `std`
    /// feature there are no threads and this is [`Threads::single`].
    pub fn new(n: usize) -> Self {
        #[cfg(feature = "std")]
        {
            Threads {
                pool: (n > 1).then(|| imp::ThreadPool::new(n)),
            }
        }
        #[cfg(not(feature = "std"))]
        {
            let _ = n;
            Threads::single()
        }
    }

    /// Number of threads that run kernels.
    pub fn count(&self) -> usize {
        #[cfg(feature = "std")]
        if let Some(p) = &self.pool {
            return p.threads();
        }
        1
    }

    /// The handle kernels take.
    pub fn par(&self) -> Par<'_> {
        Par {
            #[cfg(feature = "std")]
            pool: self.pool.as_ref(),
            _life: PhantomData,
        }
    }
}

/// A borrowed view of [`Threads`] that kernels use to split work; `Par::SINGLE` runs inline.
#[derive(Clone, Copy)]
pub struct Par<'a> {
    #[cfg(feature = "std")]
    pool: Option<&'a imp::ThreadPool>,
    _life: PhantomData<&'a ()>,
}

impl Par<'_> {
    /// Everything on the calling thread.
    pub const SINGLE: Par<'static> = Par {
        #[cfg(feature = "std")]
        pool: None,
        _life: PhantomData,
    };

    /// Number of threads work is split over.
    pub fn threads(&self) -> usize {
        #[cfg(feature = "std")]
        if let Some(p) = self.pool {
            return p.threads();
        }
        1
    }

    /// Splits `data` at the ascending offsets `bounds(i)` for `i in 0..parts` (part `i` is
    /// `bounds(i)..bounds(i + 1)`, with `bounds(0) == 0` and `bounds(parts) == data.len()`)
    /// and runs `f(i, part)` for every part, in parallel when there is a pool. Returns when all
    /// parts are done. Panics if the bounds are not ascending within `data`.
    pub fn for_each_part(
        &self,
        data: &mut [f32],
        parts: usize,
        bounds: &(dyn Fn(usize) -> usize + Sync),
        f: &(dyn Fn(usize, &mut [f32]) + Sync),
    ) {
        assert!(
            bounds(0) == 0 && bounds(parts) == data.len(),
            "parts must cover the data"
        );
        #[cfg(feature = "std")]
        if let Some(p) = self.pool {
            if parts > 1 {
                return p.for_each_part(data, parts, bounds, f);
            }
        }
        let mut rest = data;
        for i in 0..parts {
            let (part, tail) = core::mem::take(&mut rest).split_at_mut(bounds(i + 1) - bounds(i));
            f(i, part);
            rest = tail;
        }
    }
}

impl Par<'_> {
    /// Runs `f(i, read, write)` for every part `i in 0..parts`, in parallel when there is a
    /// pool, over `data` seen as pixels of `stride` f32s, split into `units` of `unit` pixels
    /// (rows). Part `i` owns the pixels of units `i * units / parts..(i + 1) * units / parts`
    /// and may write channels `write` of those; every part may read channels `read` of every
    /// pixel, which therefore no part writes. This is what a Ghost module's second half
    /// needs: it writes its own rows while reading halo rows of the first half that other
    /// parts own. Panics unless `read` and `write` are disjoint ranges within `stride` and
    /// `data` is a whole number of units.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn for_each_split(
        &self,
        data: &mut [f32],
        stride: usize,
        read: Range<usize>,
        write: Range<usize>,
        unit: usize,
        parts: usize,
        f: &(dyn Fn(usize, &SplitRead<'_>, SplitWrite<'_>) + Sync),
    ) {
        assert!(stride > 0 && unit > 0 && parts > 0, "empty split");
        assert!(
            read.start <= read.end && read.end <= stride,
            "read channels"
        );
        assert!(
            write.start <= write.end && write.end <= stride,
            "write channels"
        );
        assert!(
            read.end <= write.start || write.end <= read.start,
            "read and write channels overlap"
        );
        assert!(data.len().is_multiple_of(stride * unit), "whole units");
        let pixels = data.len() / stride;
        let units = pixels / unit;
        let reader = SplitRead::new(data, stride, read);
        let task = |i: usize| {
            let pixels = (i * units / parts) * unit..((i + 1) * units / parts) * unit;
            f(i, &reader, reader.writer(pixels, write.clone()));
        };
        self.run_parts(parts, &task);
    }
}

impl Par<'_> {
    /// Runs `f(i, write)` for every part `i in 0..parts`, in parallel when there is a pool,
    /// over `data` seen as rows of `stride` f32s (the planes of an NCHW tensor): part `i`
    /// owns elements `bounds(i)..bounds(i + 1)` of every row. This is the split of an NCHW
    /// kernel with too few output channels to share out: each part computes a band of every
    /// output plane. Panics unless the bounds ascend from 0 to `stride` and `data` is whole
    /// rows.
    pub(crate) fn for_each_columns(
        &self,
        data: &mut [f32],
        stride: usize,
        parts: usize,
        bounds: &(dyn Fn(usize) -> usize + Sync),
        f: &(dyn Fn(usize, SplitWrite<'_>) + Sync),
    ) {
        const MAX: usize = 64;
        assert!(stride > 0 && (1..=MAX).contains(&parts), "columns split");
        assert!(data.len().is_multiple_of(stride), "whole rows");
        // Each bound is evaluated once, into `cuts`, and checked there: the parts' columns
        // are disjoint whatever `bounds` answers.
        let mut cuts = [0usize; MAX + 1];
        for (i, c) in cuts[..=parts].iter_mut().enumerate() {
            *c = bounds(i);
        }
        assert!(
            cuts[0] == 0
                && cuts[parts] == stride
                && cuts[..=parts].windows(2).all(|w| w[0] <= w[1]),
            "column bounds must ascend from 0 to the row length"
        );
        let rows = data.len() / stride;
        let reader = SplitRead::new(data, stride, 0..0);
        let cuts = &cuts;
        let task = |i: usize| f(i, reader.writer(0..rows, cuts[i]..cuts[i + 1]));
        self.run_parts(parts, &task);
    }
}

impl Par<'_> {
    /// Runs `task(i)` for every `i in 0..parts`: on the pool when there is one and more than
    /// one part, else in order on the calling thread.
    fn run_parts(&self, parts: usize, task: &(dyn Fn(usize) + Sync)) {
        #[cfg(feature = "std")]
        if let Some(p) = self.pool {
            if parts > 1 {
                return p.for_each(parts, task);
            }
        }
        for i in 0..parts {
            task(i);
        }
    }
}

#[allow(unsafe_code)]
mod split {
    //! The views [`Par::for_each_split`](super::Par::for_each_split) lends its parts. Both are
    //! made from one raw pointer taken from the caller's `&mut [f32]` (borrowed for the whole
    //! call, so nothing else touches the buffer), and every access goes through that pointer:
    //! no part holds a reference that covers another part's elements. Soundness rests on
    //! three facts the constructors check or the split guarantees: the `read` channels are
    //! never written while a `SplitRead` exists (writers only reach `write` channels, which
    //! are disjoint from them); writers of one split own disjoint pixel ranges (the caller
    //! makes one per part from ascending unit bounds computed from the part index alone), or,
    //! in [`Par::for_each_columns`](super::Par::for_each_columns), every pixel but disjoint
    //! `write` ranges (from ascending bounds evaluated once and checked); and a writer hands
    //! out at most one `&mut` at a time (its methods take `&mut self`).

    use core::marker::PhantomData;
    use core::ops::Range;

    /// Every pixel's `read` channels of a split buffer, shared by all parts: read-only, and
    /// written by nobody while this view exists.
    pub(crate) struct SplitRead<'a> {
        base: *mut f32,
        pixels: usize,
        stride: usize,
        read: Range<usize>,
        _life: PhantomData<&'a mut [f32]>,
    }

    // SAFETY: the view only reads elements that no thread writes while it exists (see the
    // module doc), so sharing it between threads cannot race.
    unsafe impl Sync for SplitRead<'_> {}

    impl<'a> SplitRead<'a> {
        /// Borrows `data` (pixels of `stride` f32s) for the split. `read` must lie within
        /// `stride` and be disjoint from every writer's channels.
        pub(super) fn new(data: &'a mut [f32], stride: usize, read: Range<usize>) -> Self {
            assert!(read.start <= read.end && read.end <= stride && stride > 0);
            SplitRead {
                pixels: data.len() / stride,
                base: data.as_mut_ptr(),
                stride,
                read,
                _life: PhantomData,
            }
        }

        /// The writer of `pixels` for channels `write` (disjoint from `read`); another
        /// writer of the same split has disjoint pixels or disjoint channels.
        pub(super) fn writer(&self, pixels: Range<usize>, write: Range<usize>) -> SplitWrite<'_> {
            assert!(pixels.start <= pixels.end && pixels.end <= self.pixels);
            assert!(write.start <= write.end && write.end <= self.stride);
            assert!(self.read.end <= write.start || write.end <= self.read.start);
            SplitWrite {
                base: self.base,
                pixels,
                stride: self.stride,
                write,
                _life: PhantomData,
            }
        }

        /// The `read` channels of pixel `i` (the kernels read through [`Self::as_ptr`]).
        #[cfg(test)]
        pub(crate) fn pixel(&self, i: usize) -> &[f32] {
            assert!(i < self.pixels);
            // SAFETY: pixel i lies inside the borrowed buffer (i < pixels, read.end <= stride)
            // and its read channels are not written while `self` lives.
            unsafe {
                core::slice::from_raw_parts(
                    self.base.add(i * self.stride + self.read.start),
                    self.read.len(),
                )
            }
        }

        /// The start of the buffer, for SIMD kernels: element `i * stride() + c` is readable
        /// for `i < pixels()` and `c` in `read()`, and nothing else is.
        #[inline]
        pub(crate) fn as_ptr(&self) -> *const f32 {
            self.base
        }

        /// Pixels in the buffer.
        #[inline]
        pub(crate) fn pixels(&self) -> usize {
            self.pixels
        }

        /// f32s per pixel.
        #[inline]
        pub(crate) fn stride(&self) -> usize {
            self.stride
        }

        /// The channels every part may read.
        #[inline]
        pub(crate) fn read(&self) -> Range<usize> {
            self.read.clone()
        }
    }

    /// One part's pixels, channels `write`: the only access to those elements while the
    /// split lasts.
    pub(crate) struct SplitWrite<'a> {
        base: *mut f32,
        pixels: Range<usize>,
        stride: usize,
        write: Range<usize>,
        _life: PhantomData<&'a mut [f32]>,
    }

    impl<'a> SplitWrite<'a> {
        /// All of `data`, seen as pixels of `stride` f32s: what an unsplit call of a kernel
        /// that takes a writer gets. Panics unless `data` is whole pixels.
        pub(crate) fn whole(data: &'a mut [f32], stride: usize) -> Self {
            assert!(
                stride > 0 && data.len().is_multiple_of(stride),
                "whole pixels"
            );
            SplitWrite {
                base: data.as_mut_ptr(),
                pixels: 0..data.len() / stride,
                stride,
                write: 0..stride,
                _life: PhantomData,
            }
        }

        /// The `write` channels of pixel `i`, which must be one of this part's (the tests'
        /// view; the kernels write through `base`).
        #[cfg(test)]
        #[inline]
        pub(crate) fn pixel(&mut self, i: usize) -> &mut [f32] {
            assert!(self.pixels.contains(&i));
            // SAFETY: the elements are inside the buffer, owned by this writer alone, and
            // `&mut self` keeps this the only reference to them.
            unsafe {
                core::slice::from_raw_parts_mut(
                    self.base.add(i * self.stride + self.write.start),
                    self.write.len(),
                )
            }
        }

        /// The start of the buffer, for SIMD kernels: element `i * stride() + c` may be read
        /// and written for `i` in `pixels()` and `c` in `write()`, and nothing else through
        /// this pointer (other elements belong to other parts or to the shared reader).
        #[inline]
        pub(crate) fn as_mut_ptr(&mut self) -> *mut f32 {
            self.base
        }

        /// This part's pixels.
        #[inline]
        pub(crate) fn pixels(&self) -> Range<usize> {
            self.pixels.clone()
        }

        /// f32s per pixel.
        #[inline]
        pub(crate) fn stride(&self) -> usize {
            self.stride
        }

        /// The channels this part writes.
        #[inline]
        pub(crate) fn write(&self) -> Range<usize> {
            self.write.clone()
        }
    }
}

#[cfg(feature = "std")]
#[allow(unsafe_code)]
mod imp {
    //! The pool: workers spin briefly, then park, waiting for a job; the caller takes part in
    //! every job and returns only when all workers are done with it, which is what makes
    //! lending them borrowed data sound.

    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex};
    use std::thread::JoinHandle;
    use std::vec::Vec;

    /// One job: run `task(i)` for every `i` handed out by `next`.
    #[derive(Clone, Copy)]
    struct Job {
        task: *const (dyn Fn(usize) + Sync),
        tasks: usize,
    }

    // SAFETY: the pointee is `Sync`, and `for_each` keeps it alive until every worker has
    // finished with it (it waits for `busy == 0` before returning).
    unsafe impl Send for Job {}

    struct Shared {
        job: Mutex<Option<Job>>,
        epoch: AtomicUsize,
        next: AtomicUsize,
        busy: AtomicUsize,
        panicked: AtomicBool,
        shutdown: AtomicBool,
        park: Mutex<()>,
        wake: Condvar,
    }

    pub struct ThreadPool {
        shared: Arc<Shared>,
        handles: Vec<JoinHandle<()>>,
    }

    /// Spins before parking: short enough not to burn a core between runs, long enough to
    /// cover the gap between two kernels of one run.
    const SPINS: usize = 1 << 16;

    impl ThreadPool {
        pub fn new(threads: usize) -> Self {
            let shared = Arc::new(Shared {
                job: Mutex::new(None),
                epoch: AtomicUsize::new(0),
                next: AtomicUsize::new(0),
                busy: AtomicUsize::new(0),
                panicked: AtomicBool::new(false),
                shutdown: AtomicBool::new(false),
                park: Mutex::new(()),
                wake: Condvar::new(),
            });
            let handles = (1..threads)
                .map(|_| {
                    let s = Arc::clone(&shared);
                    std::thread::spawn(move || worker(&s))
                })
                .collect();
            ThreadPool { shared, handles }
        }

        pub fn threads(&self) -> usize {
            self.handles.len() + 1
        }

        /// Runs `task(i)` for `i in 0..tasks` on all threads; returns when all are done.
        pub fn for_each(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
            let s = &*self.shared;
            // SAFETY: only the lifetime is erased; the pointer is used by workers strictly
            // before `busy` drops to zero, and this function waits for that before returning
            // (also when a task panics).
            let erased: *const (dyn Fn(usize) + Sync) =
                unsafe { core::mem::transmute(task as *const (dyn Fn(usize) + Sync + '_)) };
            *s.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(Job {
                task: erased,
                tasks,
            });
            s.next.store(0, Ordering::Relaxed);
            s.busy.store(self.handles.len(), Ordering::Relaxed);
            {
                let _g = s.park.lock().unwrap_or_else(|e| e.into_inner());
                s.epoch.fetch_add(1, Ordering::Release);
                s.wake.notify_all();
            }
            let mine = catch_unwind(AssertUnwindSafe(|| {
                run_tasks(
                    s,
                    Job {
                        task: erased,
                        tasks,
                    },
                )
            }));
            // Wait for the workers; yield once the wait gets long, so an oversubscribed machine
            // can schedule the worker we are waiting for.
            let mut spins = 0usize;
            while s.busy.load(Ordering::Acquire) != 0 {
                if spins < 1 << 12 {
                    spins += 1;
                    core::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if mine.is_err() || s.panicked.swap(false, Ordering::Relaxed) {
                panic!("a kernel task panicked");
            }
        }

        pub fn for_each_part(
            &self,
            data: &mut [f32],
            parts: usize,
            bounds: &(dyn Fn(usize) -> usize + Sync),
            f: &(dyn Fn(usize, &mut [f32]) + Sync),
        ) {
            // Each boundary is evaluated exactly once, into `cuts`, and checked there: the
            // tasks read only `cuts`, so even a `bounds` that answers differently on every call
            // cannot make two parts overlap or leave `data`.
            let mut first = 0;
            while first < parts {
                let n = (parts - first).min(MAX_PARTS);
                let mut cuts = [0usize; MAX_PARTS + 1];
                for (j, c) in cuts[..=n].iter_mut().enumerate() {
                    *c = bounds(first + j);
                }
                assert!(
                    cuts[..=n].windows(2).all(|w| w[0] <= w[1]) && cuts[n] <= data.len(),
                    "part bounds must ascend within the data"
                );
                let base = SendPtr(data.as_mut_ptr());
                let cuts = &cuts;
                self.for_each(n, &|j| {
                    let (a, b) = (cuts[j], cuts[j + 1]);
                    let p = base;
                    // SAFETY: `cuts[..=n]` ascends and ends inside `data` (checked above), so
                    // part `j` lies inside `data` and parts are disjoint; each index is handed
                    // to exactly one task; `data` is borrowed mutably for the whole call, which
                    // outlives every task.
                    let part = unsafe { core::slice::from_raw_parts_mut(p.0.add(a), b - a) };
                    f(first + j, part);
                });
                first += n;
            }
        }
    }

    /// Parts handed out per pool job by `for_each_part` (more run as further jobs).
    const MAX_PARTS: usize = 64;

    #[derive(Clone, Copy)]
    struct SendPtr(*mut f32);
    // SAFETY: used only to hand disjoint sub-slices of one `&mut [f32]` to tasks.
    unsafe impl Send for SendPtr {}
    // SAFETY: as above; the pointer itself is only copied, never written through concurrently
    // at the same index.
    unsafe impl Sync for SendPtr {}

    fn run_tasks(s: &Shared, job: Job) {
        loop {
            let i = s.next.fetch_add(1, Ordering::Relaxed);
            if i >= job.tasks {
                return;
            }
            // SAFETY: see `Job`: the closure outlives the job.
            let task = unsafe { &*job.task };
            task(i);
        }
    }

    fn worker(s: &Shared) {
        let mut seen = 0;
        loop {
            let mut spins = 0;
            while s.epoch.load(Ordering::Acquire) == seen && !s.shutdown.load(Ordering::Acquire) {
                if spins < SPINS {
                    spins += 1;
                    core::hint::spin_loop();
                } else {
                    let g = s.park.lock().unwrap_or_else(|e| e.into_inner());
                    if s.epoch.load(Ordering::Acquire) == seen
                        && !s.shutdown.load(Ordering::Acquire)
                    {
                        drop(s.wake.wait(g).unwrap_or_else(|e| e.into_inner()));
                    }
                }
            }
            if s.shutdown.load(Ordering::Acquire) {
                return;
            }
            seen = s.epoch.load(Ordering::Acquire);
            let job = *s.job.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(job) = job {
                if catch_unwind(AssertUnwindSafe(|| run_tasks(s, job))).is_err() {
                    s.panicked.store(true, Ordering::Relaxed);
                }
            }
            s.busy.fetch_sub(1, Ordering::Release);
        }
    }

    impl Drop for ThreadPool {
        fn drop(&mut self) {
            {
                let _g = self.shared.park.lock().unwrap_or_else(|e| e.into_inner());
                self.shared.shutdown.store(true, Ordering::Release);
                self.shared.wake.notify_all();
            }
            for h in self.handles.drain(..) {
                let _ = h.join();
            }
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn parts_cover_the_data_once() {
        for threads in [1, 2, 3] {
            let t = Threads::new(threads);
            assert_eq!(t.count(), threads);
            for round in 0..200 {
                let mut data = std::vec![0f32; 1000 + round];
                let n = data.len();
                let parts = 1 + round % 7;
                t.par()
                    .for_each_part(&mut data, parts, &|i| i * n / parts, &|i, part| {
                        for v in part.iter_mut() {
                            *v += (i + 1) as f32;
                        }
                    });
                let want: Vec<f32> = (0..n)
                    .map(|j| {
                        (0..parts)
                            .find(|&i| j < (i + 1) * n / parts)
                            .map_or(0.0, |i| (i + 1) as f32)
                    })
                    .collect();
                assert_eq!(data, want);
            }
        }
    }

    #[test]
    fn split_parts_read_shared_channels_and_write_their_own() {
        for threads in [1, 2, 3] {
            let t = Threads::new(threads);
            for (pixels, unit, parts) in [(12, 3, 4), (10, 1, 3), (6, 2, 1), (8, 4, 5)] {
                // 5 channels per pixel: 0..2 are read, 3..5 written, 2 untouched.
                let stride = 5;
                let mut data: Vec<f32> = (0..pixels * stride).map(|i| i as f32).collect();
                t.par().for_each_split(
                    &mut data,
                    stride,
                    0..2,
                    3..5,
                    unit,
                    parts,
                    &|i, rd, mut wr| {
                        for q in wr.pixels() {
                            // Read a neighbour's channels, which another part may own.
                            let nb = rd.pixel((q + 1) % rd.pixels());
                            let (a, b) = (nb[0], nb[1]);
                            let w = wr.pixel(q);
                            w[0] = a + b;
                            w[1] = i as f32;
                        }
                    },
                );
                let units = pixels / unit;
                for q in 0..pixels {
                    let nb = (q + 1) % pixels;
                    let part = (0..parts)
                        .find(|&i| q < ((i + 1) * units / parts) * unit)
                        .unwrap_or(0);
                    let px = &data[q * stride..][..stride];
                    let base = (q * stride) as f32;
                    assert_eq!(&px[..3], &[base, base + 1.0, base + 2.0]);
                    assert_eq!(px[3], (2 * nb * stride + 1) as f32, "{threads} {q}");
                    assert_eq!(px[4], part as f32);
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "overlap")]
    fn split_channels_must_not_overlap() {
        let mut d = [0.0f32; 8];
        Par::SINGLE.for_each_split(&mut d, 4, 0..2, 1..3, 1, 1, &|_, _, _| {});
    }

    #[test]
    fn changing_bounds_cannot_overlap_parts() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // A `bounds` that answers differently on each call: after the checked first answers,
        // it would shift every part by 3. Each boundary is read once, so the parts still cover
        // the data exactly once.
        let t = Threads::new(2);
        let calls = AtomicUsize::new(0);
        let bounds = |i: usize| {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            if n < 5 || i == 0 || i == 4 {
                i * 10
            } else {
                i * 10 - 3
            }
        };
        for _ in 0..20 {
            let mut d = [0.0f32; 40];
            calls.store(0, Ordering::Relaxed);
            t.par().for_each_part(&mut d, 4, &bounds, &|_, p| {
                for v in p.iter_mut() {
                    *v += 1.0;
                }
            });
            assert!(d.iter().all(|&v| v == 1.0), "{d:?}");
        }
    }

    #[test]
    fn single_runs_inline() {
        let mut d = [1.0f32; 4];
        Par::SINGLE.for_each_part(&mut d, 2, &|i| i * 2, &|_, p| p.fill(3.0));
        assert_eq!(d, [3.0; 4]);
    }
}
