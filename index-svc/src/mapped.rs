//! A sealed segment's file, memory-mapped read-only. The f32 rows are read only to rescore a
//! search's best few candidates and for exact scans and merges, so they need not live on the
//! heap: a row is paged in from the kernel's page cache when first read, stays while memory
//! allows, and is dropped under pressure (clean, file-backed pages), as Qdrant's on-disk
//! vectors. Resident memory counts the rows read so far (`RssFile`), not the heap (`RssAnon`).
//!
//! `--rescore-reads pread` keeps the file open and reads a search's candidates with `pread`
//! into a buffer instead: the rows then never count in the process's RSS (scans and merges
//! still read the mapping), at a syscall a row. Either way the kernel's page cache holds the
//! pages and the pod's cgroup is charged for them, as reclaimable file memory (README, "Rows
//! off the heap"). Segment files are immutable and replaced only by rename, and an unlinked
//! file stays valid while it is mapped or open, so no access can fault on a shrunk file.
#![allow(unsafe_code)]
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

pub struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
    /// Kept open for `read_f32s` when rows are read with pread.
    file: Option<File>,
}

// SAFETY: the mapping is read-only and lives until `drop`; shared reads from any thread are fine.
unsafe impl Send for Mapped {}
unsafe impl Sync for Mapped {}

impl Mapped {
    pub fn open(path: &Path, keep_file: bool) -> std::io::Result<Self> {
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
        Ok(Self { ptr, len, file: keep_file.then_some(file) })
    }

    /// Whether `read_f32s` can read (the file was kept open for it).
    pub fn reads_by_pread(&self) -> bool {
        self.file.is_some()
    }

    /// Fills `out` with the f32s at byte `offset` of the file through `pread`, bypassing the
    /// mapping.
    pub fn read_f32s(&self, offset: usize, out: &mut [f32]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let file = self.file.as_ref().ok_or_else(|| std::io::Error::other("segment file not kept open"))?;
        // SAFETY: the bytes of `out`, which any bit pattern written into them leaves valid f32s
        // (little-endian files; see the compile-time check in segment.rs).
        let bytes = unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(out)) };
        file.read_exact_at(bytes, offset as u64)
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

/// `--rescore-reads pread` holds one descriptor per sealed segment (up to `--max-segments` + a
/// few an index), so an installation of many indexes would meet a 1,024 soft limit (systemd's
/// and many container runtimes' default): raise the soft limit to the hard one, as databases do.
pub fn raise_open_files_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit on a local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 || lim.rlim_cur >= lim.rlim_max {
        return;
    }
    let want = libc::rlimit { rlim_cur: lim.rlim_max, ..lim };
    // SAFETY: setrlimit from a local struct.
    let ok = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0;
    tracing::info!(from = lim.rlim_cur, to = want.rlim_cur, ok, "open files soft limit raised");
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `open` mapped, once.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}
