// The few RocksDB settings Weir needs that librocksdb 7.8's C API lacks, reached only from WeirRocksDB.
// Forward-declares the options handle instead of including <rocksdb/c.h>, so this module and CRocksDB
// do not both define the C API's names.
#ifndef WEIR_ROCKSDB_SHIM_H
#define WEIR_ROCKSDB_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rocksdb_options_t rocksdb_options_t;

/// Sends RocksDB's info log to `path` through plain write(2) calls whose failures are ignored. RocksDB's
/// own file logger asserts (aborts the process) on the first message after a failed write to LOG, so a
/// full disk would crash the process from any background thread. Once the file passes `max_file_size`
/// bytes (0: never) it is renamed to LOG.old.<microseconds>; RocksDB prunes those to keep_log_file_num.
void weir_rocksdb_options_set_plain_info_log(rocksdb_options_t* options, const char* path, size_t max_file_size);

/// Turns off RocksDB's own recovery from background errors (the SstFileManager's free-space poll and the
/// retry of retryable I/O errors), leaving the owner's explicit reopen as the only way back to writable.
/// The free-space poll waits for write_buffer_size bytes free, and while it waits DB::Resume answers Busy.
void weir_rocksdb_options_disable_auto_recovery(rocksdb_options_t* options);

#ifdef __cplusplus
}
#endif

#endif
