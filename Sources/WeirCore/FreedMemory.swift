import Glibc

/// Hands memory the allocator holds but no longer uses back to the kernel (glibc's `malloc_trim`).
///
/// Loading rules parses every file (YAML nodes, SQL tokens, ASTs) and frees most of it again; glibc
/// keeps those pages in the heap, where they count in the daemon's RSS for its whole life. Called
/// after a rule set is loaded, not on the event path: trimming walks the heap. A C library without
/// `malloc_trim` (musl) makes it do nothing.
public func releaseFreedMemory() {
    _ = mallocTrim?(0)
}

/// `malloc_trim`, which Swift's Glibc module does not export (it is in malloc.h).
private let mallocTrim: (@convention(c) (Int) -> Int32)? = {
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "malloc_trim") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
}()
