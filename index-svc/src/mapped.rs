//! A sealed segment's file, memory-mapped read-only. The f32 rows are read only to rescore a
//! search's best few candidates and for exact scans and merges, so they need not live on the
//! heap: a row is paged in from the kernel's page cache when first read, stays while memory
//! allows, and is dropped under pressure (clean, file-backed pages), as Qdrant's on-disk
//! vectors. Resident memory counts the rows read so far (`RssFile`), not the heap (`RssAnon`).
//! (Reading them with `pread` instead would hide them from RSS but not from the cgroup, which
//! charges page cache too, and costs a syscall per row: 10–20 % of a rested query here.) Segment files are immutable and
//! replaced only by rename, and an unlinked file stays valid while it is mapped, so no access
//! can fault on a shrunk file.
#![allow(unsafe_code)]
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

pub struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and lives until `drop`; shared reads from any thread are fine.
unsafe impl Send for Mapped {}
unsafe impl Sync for Mapped {}

impl Mapped {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let len = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
        if len == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "empty segment file"));
        }
        // SAFETY: a fresh private read-only mapping of a whole open file; checked for failure.
        let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0) };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self { ptr, len })
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` is mapped readable for the life of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }

    /// `len` f32s from byte `offset` (which the file format keeps 4-aligned; the mapping is
    /// page-aligned). None when out of bounds or misaligned.
    pub fn f32s(&self, offset: usize, len: usize) -> Option<&[f32]> {
        let end = offset.checked_add(len.checked_mul(4)?)?;
        if end > self.len || !offset.is_multiple_of(4) {
            return None;
        }
        // SAFETY: in bounds, aligned, and any bit pattern is a valid f32 (little-endian files;
        // see the compile-time check in segment.rs).
        Some(unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>().add(offset).cast::<f32>(), len) })
    }

    /// Reads of the rows are random (one candidate's row at a time): no read-ahead around a
    /// fault, which would page in neighbours no search asked for.
    pub fn advise_random(&self) {
        self.advise(libc::MADV_RANDOM);
    }

    /// Drops the pages read so far from this process's memory (loading read the whole file once);
    /// later reads fault them back in from the page cache.
    pub fn release(&self) {
        self.advise(libc::MADV_DONTNEED);
    }

    fn advise(&self, advice: libc::c_int) {
        // SAFETY: advice on our own whole mapping; failure only loses the hint.
        unsafe {
            libc::madvise(self.ptr, self.len, advice);
        }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `open` mapped, once.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}
