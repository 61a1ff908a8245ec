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
private let mallocTrim = libcFunction("malloc_trim", as: (@convention(c) (Int) -> Int32).self)

/// A C library function that Swift's Glibc module does not export, or nil without it.
private func libcFunction<Function>(_ name: String, as type: Function.Type) -> Function? {
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, name) else { return nil }
    return unsafeBitCast(symbol, to: type)
}

/// Makes glibc give freed heap back by itself: a fixed trim threshold (256 KiB) instead of the
/// dynamic one, which rises with the largest block freed (up to 64 MiB) and then leaves that much
/// free memory resident at the top of each thread's arena, where `malloc_trim` does not reach
/// (it trims only the main arena's top). The rule loader's YAML tree is freed that way, in its own
/// arena (`YAMLFile.withDocuments`). Setting it fixes the mmap threshold too: blocks over 1 MiB are
/// mapped and unmapped on their own, smaller ones come from the heap as before. Call it once, at
/// the start of the daemon. No effect without glibc's `mallopt`.
public func useFixedAllocatorThresholds() {
    guard let mallopt = mallOpt else { return }
    _ = mallopt(mallocTrimThreshold, 256 << 10)
    _ = mallopt(mallocMmapThreshold, 1 << 20)
}

/// `mallopt`'s parameters (malloc.h), which Swift's Glibc module does not export.
private let mallocTrimThreshold: Int32 = -1
private let mallocMmapThreshold: Int32 = -3

private let mallOpt = libcFunction("mallopt", as: (@convention(c) (Int32, Int32) -> Int32).self)
