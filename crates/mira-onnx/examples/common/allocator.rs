//! The `mira` binary's allocator set-up, so that the timing examples measure what the CLI
//! runs: mimalloc as the global allocator, told to keep freed memory (`crates/mira-cli/src/
//! main.rs`, ARCHITECTURE.md). With the system allocator instead, one 96³ window's attack step
//! took 1,058–1,142 ms against 620–675 ms (BENCHMARKS.md): page faults, zeroing and TLB
//! shoot-downs of tensor-sized buffers handed back to the OS between operations.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (`include/mimalloc.h`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory (purge delay −1) unless `MIMALLOC_PURGE_DELAY` is set; call first
/// thing in `main`.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain setter of an integer option, called before any other thread exists.
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
    }
}
