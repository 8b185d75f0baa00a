//! Process memory: huge pages for the big arenas, and freed heap given back to the OS.
use std::alloc::{GlobalAlloc, Layout, System};

const HUGE_PAGE: usize = 2 << 20;

/// The system allocator, asking for transparent huge pages on allocations of 8 MiB and more.
///
/// Why: a graph search is a chain of dependent loads scattered over a segment's points and
/// links (tens of MiB). With 4 KiB pages nearly every hop also misses the TLB, and where the
/// pages land physically decides cache conflicts, so QPS moved ±20 % from one build to the next
/// (see the README's index benchmark). Hosts with THP in `madvise` mode (the usual default) give
/// huge pages only to regions that ask; small allocations are left alone. Installed by the
/// service binary and the benchmark.
pub struct HugePageAlloc;

// SAFETY: every call is forwarded to `System` unchanged; `advise` only adds a paging hint to
// memory the allocation owns.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed through.
        let p = unsafe { System.alloc(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        advise(p, new_size);
        p
    }
}

/// `madvise(MADV_HUGEPAGE)` on the whole huge pages inside `[p, p + size)`.
#[allow(unsafe_code)]
fn advise(p: *mut u8, size: usize) {
    #[cfg(target_os = "linux")]
    if !p.is_null() && size >= 4 * HUGE_PAGE {
        let start = (p as usize).next_multiple_of(HUGE_PAGE);
        let end = (p as usize + size) & !(HUGE_PAGE - 1);
        if end > start {
            // SAFETY: the range lies inside the allocation just made; MADV_HUGEPAGE changes how
            // its pages are backed, never their contents. Failure (THP off) is harmless.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (p, size);
}

/// Gives freed heap back to the OS after large transient allocations (segment builds, start-up
/// loading). glibc keeps freed small blocks in its arenas, so without this RSS stays at the
/// high-water mark of the last build — TEI runs the same call in a loop for the same reason.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_free_memory() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: malloc_trim only walks glibc's own arenas; it has no preconditions.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}
