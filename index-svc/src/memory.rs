//! Gives freed heap back to the OS after large transient allocations (segment builds, start-up
//! loading). glibc keeps freed small blocks in its arenas, so without this RSS stays at the
//! high-water mark of the last build — TEI runs the same call in a loop for the same reason.
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
