#include "weir_rocksdb_shim.h"

#include <rocksdb/c.h>
#include <rocksdb/env.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>

// Identical to the definition in librocksdb's db/c.cc (7.8): the C handle wraps the C++ options.
struct rocksdb_options_t {
    rocksdb::Options rep;
};

namespace {

uint64_t nowMicros() {
    timeval now;
    gettimeofday(&now, nullptr);
    return uint64_t(now.tv_sec) * 1000000 + uint64_t(now.tv_usec);
}

// An info logger that never asserts: each line is one write(2), errors (ENOSPC, EIO) drop the line.
// Opens lazily, so lines logged before RocksDB creates the directory are dropped instead of failing.
class PlainLogger final : public rocksdb::Logger {
public:
    PlainLogger(std::string path, size_t maxFileSize)
        : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), path_(std::move(path)), maxFileSize_(maxFileSize) {}

    ~PlainLogger() override {
        if (fd_ >= 0) ::close(fd_);
    }

    using rocksdb::Logger::Logv;

    void Logv(const char* format, va_list ap) override {
        char line[2048];
        uint64_t micros = nowMicros();
        time_t seconds = time_t(micros / 1000000);
        tm local;
        localtime_r(&seconds, &local);
        int prefix = snprintf(line, sizeof line, "%04d/%02d/%02d-%02d:%02d:%02d.%06d %lx ", local.tm_year + 1900,
                              local.tm_mon + 1, local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec,
                              int(micros % 1000000), (unsigned long)gettid());
        if (prefix < 0) return;
        int body = vsnprintf(line + prefix, sizeof line - size_t(prefix) - 1, format, ap);
        if (body < 0) return;
        size_t length = std::min(size_t(prefix) + size_t(body), sizeof line - 2);
        if (line[length - 1] != '\n') line[length++] = '\n';

        std::lock_guard<std::mutex> guard(mutex_);
        if (fd_ < 0 && !openLocked()) return;
        ssize_t written = ::write(fd_, line, length);
        if (written > 0) size_ += size_t(written);
        if (maxFileSize_ > 0 && size_ >= maxFileSize_) rollLocked();
    }

private:
    bool openLocked() {
        fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd_ < 0) return false;
        off_t end = ::lseek(fd_, 0, SEEK_END);
        size_ = end > 0 ? size_t(end) : 0;
        return true;
    }

    // Named like RocksDB's own rolled logs so its purge of old info logs keeps keep_log_file_num of them.
    void rollLocked() {
        ::close(fd_);
        fd_ = -1;
        std::string old = path_ + ".old." + std::to_string(nowMicros());
        (void)::rename(path_.c_str(), old.c_str());
        size_ = 0;
    }

    std::string path_;
    size_t maxFileSize_;
    std::mutex mutex_;
    int fd_ = -1;
    size_t size_ = 0;
};

class NoAutoRecovery final : public rocksdb::EventListener {
public:
    void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status, bool* autoRecovery) override {
        *autoRecovery = false;
    }
};

}  // namespace

extern "C" void weir_rocksdb_options_set_plain_info_log(rocksdb_options_t* options, const char* path, size_t maxFileSize) {
    options->rep.info_log = std::make_shared<PlainLogger>(path, maxFileSize);
}

extern "C" void weir_rocksdb_options_disable_auto_recovery(rocksdb_options_t* options) {
    options->rep.listeners.push_back(std::make_shared<NoAutoRecovery>());
    options->rep.max_bgerror_resume_count = 0;
}
